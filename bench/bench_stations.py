"""How many simulated stations one core holds (issue 16, `--stations N`), with heartbeats
and meter values flowing.

    python -m bench stations        # STATIONS_KINDS=full,light STATIONS_RAMP=10,25,...
                                    # STATIONS_TMP=/dev/shm: the run dirs on tmpfs

For each kind (`full`: the controller + hal on in-process simulated devices per station;
`light`: the OCPP client over a simulated meter) and each N of the ramp,
`python -m evse.sim.stations --n N --csms URL` runs pinned to one CPU
(os.sched_setaffinity); this process runs the scripted CSMS on the other CPU and stamps
every Heartbeat and MeterValuePeriodic TransactionEvent as it arrives. Once every station
has booted and sent meter values twice (warm-up), a window of STATIONS_WINDOW_S seconds is
measured: the stations' process CPU % (of one core) and RSS, and per message kind the
lateness at the CSMS, median / p99 / max.

Lateness: a Heartbeat is due HEARTBEAT_S after the previous one (G02), a meter value
MV_S after the previous one (SampledDataCtrlr.TxUpdatedInterval, E02); a message is late
by (gap to the previous one) - interval, and one still missing at the end of the window
is late by the time it is overdue (meter values run on a fixed grid, so a gap after a
late one is short: negative lateness). "On time" = late by at most ON_TIME_S (1 s). N
"holds" when every message of every station in the window was on time, no station
failed and (full) no hal lost its controller's keep-alive (which ramps power to zero).
Also reported for full: the share of hal's sample ticks that ended after their deadline
(the simulated protection loop running late). The ramp of a kind stops at the first N
that does not hold. Numbers go to stdout and bench/out/stations.json.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from evse.config import load_station
from evse.sim.csms import ScriptedCsms, default_responses
from evse.sim.stations import DEFAULT_CONFIG

HEARTBEAT_S = 10
MV_S = 5
ON_TIME_S = 1.0
HAL_PERIOD_S = load_station(DEFAULT_CONFIG).hal.period_s  # the full stations' hal sample
OUT = Path(__file__).resolve().parent / "out" / "stations.json"


def _env_list(name: str, default: str) -> list[str]:
    return [x for x in os.environ.get(name, default).split(",") if x]


class Arrivals(list[tuple[str, str, str]]):
    """Stands in for ScriptedCsms.frames: keeps only the arrival time of each Heartbeat
    and MeterValuePeriodic TransactionEvent, per station."""

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[tuple[str, str], list[float]] = defaultdict(list)

    def append(self, item: tuple[str, str, str]) -> None:
        now = time.monotonic()
        station, direction, text = item
        if direction != "in" or not text.startswith("[2,"):
            return
        if '"Heartbeat"' in text[:80]:
            self.times[(station, "hb")].append(now)
        elif '"MeterValuePeriodic"' in text:
            self.times[(station, "mv")].append(now)


def lateness(times: list[float], interval: float, t0: float, t1: float) -> list[float]:
    """Per message arriving in [t0, t1]: gap to the previous one minus the interval; and
    for the one still due at t1: how overdue it is (only if it is)."""
    out = [b - a - interval for a, b in itertools.pairwise(times) if t0 <= b <= t1]
    before = [t for t in times if t <= t1]
    last = before[-1] if before else t0 - interval
    if t1 - last - interval > 0:
        out.append(t1 - last - interval)
    return out


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> tuple[float, float]:
    kb = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            kb[key] = int(val.split()[0])
    return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024


_HAL = re.compile(r"hal: (\d+) overruns, (\d+) keep-alive lost")


def _hal_counts(out: Path) -> tuple[int, int] | None:
    """The fleet's latest status line: hal overruns and keep-alive losses so far."""
    for line in reversed(out.read_text().splitlines()):
        m = _HAL.search(line)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def _stats(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"median": float("nan"), "p99": float("nan"), "max": float("nan")}
    s = sorted(xs)
    return {
        "median": statistics.median(s),
        "p99": s[min(len(s) - 1, int(0.99 * len(s)))],
        "max": s[-1],
    }


async def step(kind: str, n: int, window_s: float, station_cpu: int) -> dict[str, Any]:
    responses = default_responses(ScriptedCsms().clock)
    boot = responses["BootNotification"]
    assert callable(boot)
    responses["BootNotification"] = lambda p: {**boot(p), "interval": HEARTBEAT_S}  # type: ignore[dict-item]
    csms = ScriptedCsms(responses)
    arrivals = Arrivals()
    csms.frames = arrivals
    port = await csms.start("127.0.0.1", 0)
    work = Path(tempfile.mkdtemp(prefix="bst-", dir=os.environ.get("STATIONS_TMP")))
    out_path = work / "fleet.out"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evse.sim.stations", "--n", str(n), "--kind", kind,
        "--csms", f"ws://127.0.0.1:{port}/ocpp", "--run-dir", str(work / "run"),
        "--heartbeat-s", str(HEARTBEAT_S), "--meter-interval-s", str(MV_S),
        stdout=out_path.open("wb"), stderr=(work / "fleet.log").open("wb"),
        preexec_fn=lambda: os.sched_setaffinity(0, {station_cpu}),
    )
    result: dict[str, Any] = {"kind": kind, "n": n}
    try:
        up_limit = 120.0 + 0.5 * n
        t_start = time.monotonic()
        while True:  # warm-up: every station booted, charging, meter values twice
            mv = [ts for (_s, k), ts in list(arrivals.times.items()) if k == "mv"]
            ready = sum(1 for ts in mv if len(ts) >= 2)
            if ready >= n:
                break
            if proc.returncode is not None or time.monotonic() - t_start > up_limit:
                result.update(holds=False, why=f"only {ready} of {n} stations came up")
                return result
            await asyncio.sleep(0.5)
        result["startup_s"] = round(time.monotonic() - t_start, 1)
        t0, cpu0, hal0 = time.monotonic(), _cpu_s(proc.pid), _hal_counts(out_path)
        own0 = sum(os.times()[:2])
        await asyncio.sleep(window_s)
        t1, cpu1, hal1 = time.monotonic(), _cpu_s(proc.pid), _hal_counts(out_path)
        # the CSMS's share: if it were saturated, its stamps (not the stations) were late
        result["csms_cpu_pct"] = round(100.0 * (sum(os.times()[:2]) - own0) / (t1 - t0), 1)
        if hal0 is not None and hal1 is not None:
            ticks = n * (t1 - t0) / HAL_PERIOD_S
            result["hal_overrun_pct"] = round(100.0 * (hal1[0] - hal0[0]) / ticks, 2)
            result["keepalive_lost"] = hal1[1] - hal0[1]
        rss, hwm = _rss_mib(proc.pid)
        result.update(cpu_pct=round(100.0 * (cpu1 - cpu0) / (t1 - t0), 1),
                      rss_mib=round(rss, 1), hwm_mib=round(hwm, 1))
        stations = {s for (s, _k) in arrivals.times}
        for kind_key, interval in (("hb", HEARTBEAT_S), ("mv", MV_S)):
            late: list[float] = []
            for s in stations:
                late += lateness(arrivals.times.get((s, kind_key), []), interval, t0, t1)
            st = _stats(late)
            result[kind_key] = {
                "count": len(late),
                "late": sum(1 for x in late if x > ON_TIME_S),
                **{k: round(v, 3) for k, v in st.items()},
            }
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 120.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await csms.stop()
        lines = out_path.read_text().splitlines() if out_path.exists() else []
        failed = [x for x in lines if x.startswith("FAILED ")]
        result["failed"] = len(failed)
        result["exit"] = proc.returncode
        if "hb" in result:
            result["holds"] = (
                result["hb"]["late"] == 0 and result["mv"]["late"] == 0 and not failed
                and proc.returncode == 0 and result.get("keepalive_lost", 0) == 0
            )
        shutil.rmtree(work, ignore_errors=True)
    return result


def _row(r: dict[str, Any]) -> str:
    if "hb" not in r:
        return f"| {r['kind']} | {r['n']} | - | - | - | - | - | - | - | {r.get('why', '')} |"
    hb, mv = r["hb"], r["mv"]
    return (
        f"| {r['kind']} | {r['n']} | {r['cpu_pct']} | {r['csms_cpu_pct']} | {r['rss_mib']} | "
        f"{hb['median'] * 1000:.0f} / {hb['p99'] * 1000:.0f} / {hb['max'] * 1000:.0f} "
        f"({hb['late']} late of {hb['count']}) | "
        f"{mv['median'] * 1000:.0f} / {mv['p99'] * 1000:.0f} / {mv['max'] * 1000:.0f} "
        f"({mv['late']} late of {mv['count']}) | "
        f"{r.get('hal_overrun_pct', '-')} | {r.get('keepalive_lost', '-')} | "
        f"{'yes' if r['holds'] else 'no'} (failed {r['failed']}) |"
    )


async def _run() -> int:
    cpus = sorted(os.sched_getaffinity(0))
    station_cpu = cpus[0]
    if len(cpus) > 1:  # the CSMS (this process) beside it, never on the stations' core
        os.sched_setaffinity(0, set(cpus[1:]))
    kinds = _env_list("STATIONS_KINDS", "full,light")
    ramp = [int(x) for x in _env_list("STATIONS_RAMP", "10,25,50,100,200,400,800")]
    window = float(os.environ.get("STATIONS_WINDOW_S", "60"))
    print(f"heartbeat every {HEARTBEAT_S} s, meter values every {MV_S} s, window {window} s, "
          f"on time = at most {ON_TIME_S} s late; stations on CPU {station_cpu}", flush=True)
    print("| kind | N | CPU % | CSMS CPU % | RSS MiB | heartbeat late ms median / p99 / max | "
          "meter values late ms median / p99 / max | hal ticks late % | keep-alive lost | "
          "holds |", flush=True)
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    results = []
    for kind in kinds:
        for n in ramp:
            r = await step(kind, n, window, station_cpu)
            results.append(r)
            print(_row(r), flush=True)
            if not r.get("holds"):
                break
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))
    for kind in kinds:
        held = [r["n"] for r in results if r["kind"] == kind and r.get("holds")]
        print(f"{kind}: one core holds {max(held) if held else 0} stations "
              f"(largest N of the ramp with every message on time)", flush=True)
    return 0


def main() -> int:
    return asyncio.run(_run())


if __name__ == "__main__":
    sys.exit(main())
