"""Frequency step in the grid -> the car's next ChargeLoopRes target, through `evse run`.

Issue 12: for an AC EVSE the car's inverter is the grid device, so hal's constraint
reaches it only through the SECC's targets: "the time from a frequency step in the
simulated grid to the first ChargeLoopRes carrying the reduced target (AC_BPT, Dynamic),
and RSS of evse with a session running".

The parts, as on a station: hal (in this process, simulated devices, 20 ms samples, so
the step can be placed on the simulated grid at a known moment), `evse run` as its own
process (SECC on a veth pair, OCPP to a scripted CSMS whose AuthorizeResponse allows V2X,
Q01), our EV in a network namespace (AC_BPT, Dynamic, discharging 5 kW, a ChargeLoopReq
every BENCH_SECC_PATH_LOOP_S, default 20 ms). VDE-AR-N 4105 LFSM-O from 50.2 Hz, its
response time set to 0 (BENCH_SECC_PATH_RESPONSE_S; the preset's 2 s first-order
response is hal's grid function, not the path measured here): the frequency steps from
50.0 to 50.5 Hz (12 % less discharge: 600 W) BENCH_SECC_PATH_N times (default 24) at
random moments, back to 50.0 Hz between the steps. hal reports a constraint at once only
when it moved more than 1 % of the rating (110 W here), else within its 1 s refresh:
the step is above that. Per step: from the step until the EV has read a ChargeLoopRes whose
EVSETargetActivePower carries at least half of that cut (both clocks are CLOCK_MONOTONIC
of this machine). This includes the EV's own wait for its next request (up to one loop
interval) and hal's sample period. RSS: the `evse run` process's VmRSS, sampled while
the session runs (the largest). Needs root (namespaces). Writes bench/out/secc_path.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "secc_path.json"
DISCHARGE_W = -5000.0
STEP_TO_HZ = 50.5
PASSWORD = "0123456789abcdef"
STATION = """
[grid.enter_service]
delay_s = 1.0
ramp_s = 1.0
[grid.freq_droop]
response_time_s = {response_s}
"""


def _config(d: Path, iface: str, csms_port: int, response_s: float) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import sim_config

    path = sim_config(d, request_w=DISCHARGE_W)
    text = path.read_text().replace('kind = "dc"', 'kind = "ac"', 1)
    text = text.replace('level = "info"', 'level = "warning"', 1)
    text = text.replace("nominal_frequency_hz = 50.0\n",
                        'nominal_frequency_hz = 50.0\npreset = "vde-ar-n-4105"\n'
                        + STATION.format(response_s=response_s), 1)
    text += f'pwm_duty_pct = 5.0\nid_token = "CARD0001"\nstate_dir = "{d}/evse"\n'
    text += (f'\n[ocpp]\ncsms_url = "ws://127.0.0.1:{csms_port}/ocpp"\nstation_id = "CS001"\n'
             f'basic_auth_password = "{PASSWORD}"\n'
             '[ocpp.variables]\n"TxCtrlr.TxStartPoint" = "Authorized"\n')
    text += f'\n[[iso15118]]\nevse = 1\ninterface = "{iface}"\nevseid = "DE*ABC*E1"\n'
    path.write_text(text)
    return path


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


async def _wait(cond: Any, within: float, what: str) -> None:
    end = time.monotonic() + within
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError(f"not within {within} s: {what}")
        await asyncio.sleep(0.01)


def latencies(steps: list[float], loops: list[tuple[float, float]],
              cut_w: float) -> tuple[list[float], int]:
    """Per step time: until the first loop target at least cut_w / 2 above the one in
    force before it (the discharge is negative: a cut raises it), within 0.5 s (the
    frequency goes back after that). Also: steps missed."""
    out, missed = [], 0
    for t0 in steps:
        before = [w for t, w in loops if t < t0]
        after = [(t, w) for t, w in loops if t0 <= t < t0 + 0.5]
        hit = next((t for t, w in after if before and w >= before[-1] + cut_w / 2), None)
        if hit is None:
            missed += 1
        else:
            out.append(hit - t0)
    return out, missed


async def bench(d: Path) -> int:
    sys.path.insert(0, str(ROOT / "tests" / "integration" / "iso15118"))
    from secc_net import veth_pair

    from evse.config import load_station
    from evse.sim.csms import ScriptedCsms
    from hal.daemon import HalDaemon
    from hal.sdnotify import Notifier

    n = int(os.environ.get("BENCH_SECC_PATH_N", "24"))
    loop_s = float(os.environ.get("BENCH_SECC_PATH_LOOP_S", "0.02"))
    response_s = float(os.environ.get("BENCH_SECC_PATH_RESPONSE_S", "0"))
    rng = random.Random(2026)
    allowed = {"idTokenInfo": {"status": "Accepted"}, "allowedEnergyTransfer": ["AC_BPT"]}
    answers = {"Authorize": allowed, "NotifyEVChargingNeeds": {"status": "Accepted"}}
    async with ScriptedCsms(answers, passwords={"CS001": PASSWORD}) as csms:
        with veth_pair("bp") as net:
            cfg_path = _config(d, net.secc_if, csms.port, response_s)
            daemon = HalDaemon(load_station(cfg_path).hal, Notifier({}))
            stop = asyncio.Event()
            hal = asyncio.create_task(daemon.run(stop))
            evse: asyncio.subprocess.Process | None = None
            ev: asyncio.subprocess.Process | None = None
            try:
                await _wait(lambda: (d / "hal.sock").exists(), 30.0, "hal up")
                assert daemon.devices is not None and daemon.devices.world is not None
                world = daemon.devices.world
                stage = world.evses[1].stage
                evse = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "evse.cli", "run", "--config", str(cfg_path),
                    stderr=(d / "evse.log").open("ab"))
                ev_cfg = {"service": "AC_BPT", "control_mode": "Dynamic",
                          "departure_s": int(15 + n * 1.5), "loop_interval_s": loop_s,
                          "soc_start": 60.0, "capacity_wh": 60000.0, "sdp_tries": 400,
                          "script": [{"at_s": 0.0, "power_w": DISCHARGE_W}],
                          "timeout_scale": 4.0}
                (d / "ev.json").write_text(json.dumps(ev_cfg))
                ev = await asyncio.create_subprocess_exec(
                    "ip", "netns", "exec", net.netns, sys.executable, "-m", "evse.sim.ev",
                    "--iface", net.ev_if, "--config", str(d / "ev.json"),
                    stdout=asyncio.subprocess.PIPE, stderr=(d / "ev.log").open("ab"))
                await _wait(lambda: stage.active_w < 0.95 * DISCHARGE_W, 60.0,
                            "the car discharging through hal")
                rss = [_rss_kib(evse.pid)]
                steps: list[float] = []
                for _ in range(n):
                    await asyncio.sleep(0.5 + rng.random() * 0.25)
                    steps.append(time.monotonic())
                    world.grid.set_override(None, STEP_TO_HZ)
                    await asyncio.sleep(0.5 + rng.random() * 0.25)
                    world.grid.set_override(None, 50.0)
                    rss.append(_rss_kib(evse.pid))
                out, _ = await asyncio.wait_for(ev.communicate(), 120.0)
                ev = None
                result = json.loads(out.decode().strip().splitlines()[-1])
            finally:
                for proc in (ev, evse):
                    if proc is not None and proc.returncode is None:
                        proc.terminate()
                        await proc.wait()
                stop.set()
                await hal
    t0 = result["t0_monotonic"]
    loops = [(t0 + r["t_s"], r["target_w"]) for r in result["loops"] if r["target_w"] is not None]
    # LFSM-O: 40 %/Hz above 50.2 Hz of the power at activation
    cut_w = abs(DISCHARGE_W) * 0.4 * (STEP_TO_HZ - 50.2)
    lat, missed = latencies(steps, loops, cut_w)
    print(f"frequency step 50.0 -> {STEP_TO_HZ} Hz x {n} (LFSM-O, -{cut_w:.0f} W) -> first "
          f"ChargeLoopRes with the cut target (AC_BPT Dynamic, EV loop {loop_s * 1e3:.0f} ms, "
          f"hal 20 ms, droop response {response_s} s):")
    if lat:
        print(f"  median {statistics.median(lat) * 1e3:.1f} ms  p99 {_pct(lat, 0.99) * 1e3:.1f}"
              f" ms  max {max(lat) * 1e3:.1f} ms  [{len(lat)} steps, {missed} missed]")
    print(f"  evse run RSS with the session running: {max(rss) / 1024:.1f} MiB "
          f"(EV outcome: {result['outcome']}, {result['reason']})")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({
        "steps": n, "step_to_hz": STEP_TO_HZ, "ev_loop_s": loop_s, "missed": missed,
        "droop_response_s": response_s,
        "latency_ms": [round(x * 1e3, 2) for x in lat],
        "median_ms": statistics.median(lat) * 1e3 if lat else None,
        "p99_ms": _pct(lat, 0.99) * 1e3 if lat else None,
        "evse_rss_mib": max(rss) / 1024, "ev_outcome": result["outcome"],
        "steps_at": steps, "loops": loops,
    }, indent=1))
    return 0 if lat and not missed and result["outcome"] == "terminated" else 1


def main() -> int:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("secc_path: needs root and iproute2 (network namespaces): not run")
        return 0
    d = Path(tempfile.mkdtemp(prefix="evse-bp-"))
    try:
        return asyncio.run(bench(d))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
