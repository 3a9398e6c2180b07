"""SLAC matching time over veth: CM_SLAC_PARM.REQ -> CM_SLAC_MATCH.CNF, per pairing.

Pairings, in one run: ours vs ours, ours (EV) vs pyslac (EVSE), ours (EV) vs
open-plc-utils `evse`, open-plc-utils `pev` vs ours (EVSE). Each side sits behind the
same simulated modems (evse.slac.plc_sim), which time-stamp both messages as they leave
their host, so every pairing is measured at the same place. BENCH_SLAC_N matchings per
pairing (default 100); needs root (network namespaces, raw sockets).

Goal (issue 13): the EV's own sounding time (10 sounds at its interval) plus 50 ms.
The two helper modes run inside the namespaces:
    python -m bench.bench_slac evse-loop IFACE     our EVSE, re-armed after each match
    python -m bench.bench_slac ev-loop IFACE N     our EV, N matchings
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYSLAC_EVSE = ROOT / "tests" / "integration" / "slac" / "pyslac_evse.py"
GAP_S = 0.6  # between an EV's matchings: lets the EVSE re-arm; outside the measured span


async def evse_loop(iface: str) -> None:
    from evse.slac.events import LinkUp, MatchFailed
    from evse.slac.link import RawSocketLink
    from evse.slac.runner import EvseSlac

    evse = EvseSlac(RawSocketLink(iface))
    async with asyncio.TaskGroup() as tg:
        tg.create_task(evse.run())
        evse.pilot_b_5_percent()
        print("ready", flush=True)
        while True:
            event = await evse.events.get()
            if isinstance(event, LinkUp | MatchFailed):
                evse.pilot_left("E")  # as a pilot cycle through E: a fresh matching
                evse.pilot_b_5_percent()


async def ev_loop(iface: str, count: int) -> None:
    from evse.slac.events import LinkUp
    from evse.slac.link import RawSocketLink
    from evse.slac.runner import EvSlac, wait_for_event

    ev = EvSlac(RawSocketLink(iface))
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(ev.run())
        for _ in range(count):
            ev.start()
            async with asyncio.timeout(30):
                await wait_for_event(ev.events, (LinkUp,))
            await asyncio.sleep(GAP_S)
        runner.cancel()


class Veth:
    """Namespaces evse / ev / plc joined by two veth pairs, plc_sim tracing in the middle."""

    def __init__(self, tag: str, trace: Path) -> None:
        self.p = f"sb{os.getpid() % 10000}{tag}"
        self.ns = {k: f"{self.p}_{k}" for k in ("evse", "ev", "plc")}
        self.evse_if, self.ev_if = f"{self.p}e0", f"{self.p}v0"
        self.trace = trace
        self.procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Veth:
        for ns in self.ns.values():
            _ip("netns", "add", ns)
        for host, end in (("evse", "e"), ("ev", "v")):
            near, far = f"{self.p}{end}0", f"{self.p}{end}1"
            _ip("link", "add", near, "type", "veth", "peer", "name", far)
            _ip("link", "set", near, "netns", self.ns[host])
            _ip("link", "set", far, "netns", self.ns["plc"])
            _ip("-n", self.ns[host], "link", "set", near, "up")
            _ip("-n", self.ns["plc"], "link", "set", far, "up")
        plc = self.run("plc", sys.executable, "-m", "evse.slac.plc_sim", f"{self.p}e1",
                       f"{self.p}v1", "--trace", str(self.trace))
        assert plc.stdout is not None and "ready" in plc.stdout.readline()
        return self

    def run(self, ns: str, *argv: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns[ns], *argv], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, text=True)
        self.procs.append(proc)
        return proc

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def spans(trace: Path) -> list[float]:
    """Seconds from each run's first SLAC_PARM.REQ to its first SLAC_MATCH.CNF."""
    first_req: dict[str, float] = {}
    done: dict[str, float] = {}
    for line in trace.read_text().splitlines():
        t, name, run = line.split()
        if name == "SlacParmReq":
            first_req.setdefault(run, float(t))
        elif run in first_req and run not in done:
            done[run] = float(t) - first_req[run]
    return list(done.values())


def measure(tag: str, n: int, workdir: Path, evse_side: list[str], ev_side: list[str],
            wait_ready: bool) -> list[float]:
    trace = workdir / f"{tag}.trace"
    with Veth(tag, trace) as v:
        evse_argv = [a.replace("IFACE", v.evse_if) for a in evse_side]
        evse = v.run("evse", *evse_argv)
        if wait_ready:
            assert evse.stdout is not None and evse.stdout.readline().strip() == "ready"
        else:
            time.sleep(0.5)
        v.run("ev", *[a.replace("IFACE", v.ev_if) for a in ev_side])
        end = time.monotonic() + 20 + n * 3.0
        while time.monotonic() < end and len(spans(trace)) < n:
            time.sleep(0.5)
    return spans(trace)[:n]


def main() -> int:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("bench slac: skipped (needs root and iproute2 for network namespaces)")
        return 0
    n = int(os.environ.get("BENCH_SLAC_N", "100"))
    py = sys.executable
    ours_evse = [py, "-m", "bench.bench_slac", "evse-loop", "IFACE"]
    ours_ev = [py, "-m", "bench.bench_slac", "ev-loop", "IFACE", str(n + 5)]
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        quick = work / "quick.ini"
        quick.write_text("[default]\nsettle time = 0\ncharge time = 0\n")
        # pev: one second "charging" so our EVSE re-arms before pev probes again.
        pev_ini = work / "pev.ini"
        pev_ini.write_text("[default]\nsettle time = 0\ncharge time = 1\n")
        pairings: list[tuple[str, list[str], list[str], bool]] = [
            ("ours-ours", ours_evse, ours_ev, True),
            ("ours(EV)-pyslac", [py, str(PYSLAC_EVSE), "IFACE", str(n + 5)], ours_ev, True),
        ]
        if shutil.which("evse") and shutil.which("pev"):
            pairings += [
                ("ours(EV)-plcutils", ["evse", "-i", "IFACE", "-p", str(quick), "-q"], ours_ev,
                 False),
                ("plcutils(pev)-ours", ours_evse, ["pev", "-i", "IFACE", "-p", str(pev_ini),
                                                   "-l", "-q"], True),
            ]
        else:
            print("bench slac: open-plc-utils evse/pev not installed, those pairings left out")
        for tag, evse_side, ev_side, ready in pairings:
            results[tag] = measure(tag[:3] + str(len(results)), n, work, evse_side, ev_side,
                                   ready)
            print(_row(tag, results[tag], n), flush=True)
    # Goal: the EV's own sounding time + 50 ms. Our EV sends START_ATTEN_CHAR x3 and 10
    # sounds, 20 ms apart (12 intervals); open-plc-utils' pev one START and 10 sounds.
    print("goal: our EV 12 x 20 ms + 50 = 290 ms; pev 10 x 20 ms + 50 = 250 ms")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "slac.json").write_text(json.dumps(
        {k: {"n": len(v), "median_ms": _ms(v, 50), "p99_ms": _ms(v, 99)}
         for k, v in results.items()}, indent=2))
    return 0 if all(len(v) == n for v in results.values()) else 1


def _ms(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if pct == 50:
        return round(statistics.median(values) * 1000, 1)
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000, 1)


def _row(tag: str, values: list[float], n: int) -> str:
    return (f"{tag:22s} matchings {len(values):3d}/{n}  median {_ms(values, 50)} ms  "
            f"p99 {_ms(values, 99)} ms")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "evse-loop":
        asyncio.run(evse_loop(sys.argv[2]))
    elif len(sys.argv) > 3 and sys.argv[1] == "ev-loop":
        asyncio.run(ev_loop(sys.argv[2], int(sys.argv[3])))
    else:
        sys.exit(main())
