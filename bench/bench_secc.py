"""SECC response time per -20 message type: our SECC vs the `iso15118` package's ("Josev").

Over a veth pair (two namespaces, tests/interop/josev/josev_harness.py), our EV runs
BENCH_SECC_N full sessions (default 200; AC_BPT, Dynamic, a few ChargeLoops each) against
our SECC, then BENCH_SECC_JOSEV_N (default 10: its Java EXI takes 100-400 ms a message)
against Josev's SECC, with a CPU-heavy process running beside both. Timed twice:

- inside our SECC: its `on_response` hook (request framed -> response written);
- outside, for both SECCs alike: on the EV, request written -> response's last byte read
  (same place, same codec, so the ratio is fair).

Goal (issue 12): p99 < 5 ms for every message, >= 10x faster than Josev's SECC. Also the
RSS of our SECC process with a session running. Needs root (namespaces). Writes
bench/out/secc.json. Helper modes (run inside a namespace):
    python -m bench.bench_secc serve IFACE OUT.json   our SECC, timings to OUT on SIGTERM
    python -m bench.bench_secc ev IFACE N OUT.json    our EV, N sessions
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "interop" / "josev"
OUT = ROOT / "bench" / "out" / "secc.json"
GOAL_P99_S = 0.005
GOAL_RATIO = 10.0
EV = {"service": "AC_BPT", "control_mode": "Dynamic", "stop_at_s": 0.4,
      "loop_interval_s": 0.02, "departure_s": 3600}


def _stats(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, xs in sorted(samples.items()):
        xs = sorted(xs)
        p99 = xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]
        out[name] = {"n": len(xs), "median_ms": statistics.median(xs) * 1e3, "p99_ms": p99 * 1e3}
    return out


async def serve(iface: str) -> dict[str, list[float]]:
    sys.path.insert(0, str(HARNESS))
    from our_secc_runner import CONFIG, FixedStation

    from evse.iso15118 import secc as our_secc

    class Quiet(FixedStation):
        def act(self, actions: tuple[Any, ...]) -> None:
            pass

    samples: dict[str, list[float]] = defaultdict(list)
    secc = our_secc.Secc(CONFIG, our_secc.SeccTransportConfig(interface=iface), Quiet(),
                         on_response=lambda name, s: samples[name].append(s))
    offer = await secc.start()
    print(f"ready tcp_port={offer.tcp_port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await secc.stop()
    return samples


async def ev_sessions(iface: str, n: int) -> dict[str, Any]:
    from evse.sim.ev import client, sdp_client
    from evse.sim.ev.battery import Battery
    from evse.sim.ev.config import load
    from evse.sim.ev.evcc import Evcc, Send

    samples: dict[str, list[float]] = defaultdict(list)
    failed: list[str] = []
    for _ in range(n):
        cfg = load(dict(EV))
        t0 = time.monotonic()
        answer = await sdp_client.discover(iface, False, cfg.sdp_tries)
        reader, writer = await asyncio.open_connection(f"{answer.address}%{iface}", answer.port)
        link = client.V2gLink(reader, writer)
        machine = Evcc(cfg, Battery(cfg.capacity_wh, cfg.soc_start), t0, None, False)
        step: Any = machine.start(time.monotonic())
        try:
            while isinstance(step, Send):
                if step.delay_s > 0:
                    await asyncio.sleep(step.delay_s)
                t = time.perf_counter()
                await link.send(step)
                name, msg = await asyncio.wait_for(link.receive(), 60.0)
                samples[step.name].append(time.perf_counter() - t)
                step = machine.on_response(name, msg, time.monotonic(), int(time.time()))
            if step.outcome != "terminated":
                failed.append(step.reason)
        finally:
            await link.close()
        await asyncio.sleep(0.05)  # the SECC returns to SDP; outside every measured span
    return {"samples": samples, "failed": failed}


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    done = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in done.stdout.split()]


def _run_pair(link: Any, tmp: Path, n: int, which: str) -> dict[str, Any]:
    from josev_harness import Peer, start_secc

    py = sys.executable
    secc_out = tmp / f"{which}-secc.json"
    if which == "ours":
        secc = Peer(link.secc_ns, [py, __file__, "serve", link.secc_if, str(secc_out)],
                    tmp, f"bench-{which}-secc")
        secc.wait_log(r"ready tcp_port=")
    else:
        secc = start_secc(link, tmp / "josev")
    ev_out = tmp / f"{which}-ev.json"
    ev = Peer(link.ev_ns, [py, __file__, "ev", link.ev_if, str(n), str(ev_out)], tmp,
              f"bench-{which}-ev")
    rss_kb = 0
    try:
        deadline = time.monotonic() + 30 + n * 30
        while ev.proc.poll() is None and time.monotonic() < deadline:
            if which == "ours":  # the SECC process, `ip netns exec` execs into python
                pids = [secc.proc.pid, *_children(secc.proc.pid)]
                rss_kb = max([rss_kb, *(_rss_kb(p) for p in pids if Path(f"/proc/{p}").exists())])
            time.sleep(0.2)
        ev.wait_exit(limit_s=5)
    finally:
        ev.stop()
        secc.stop()
    if not ev_out.exists():
        raise RuntimeError(f"{which}: our EV left no result:\n{ev.tail()}")
    ev_doc = json.loads(ev_out.read_text())
    inside = json.loads(secc_out.read_text()) if secc_out.exists() else {}
    return {"sessions": n, "failed": ev_doc["failed"], "outside": _stats(ev_doc["samples"]),
            "inside": _stats(inside), "rss_kb": rss_kb}


def main() -> int:
    if os.geteuid() != 0:
        print("bench secc: needs root (network namespaces); skipped")
        return 0
    sys.path.insert(0, str(HARNESS))
    from josev_harness import unavailable_reason, veth_link

    n = int(os.environ.get("BENCH_SECC_N", "200"))
    nj = int(os.environ.get("BENCH_SECC_JOSEV_N", "10"))
    josev_why = unavailable_reason()
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with tempfile.TemporaryDirectory() as d, veth_link() as link:
            ours = _run_pair(link, Path(d), n, "ours")
            josev = _run_pair(link, Path(d), nj, "josev") if josev_why is None else None
    finally:
        burner.kill()
        burner.wait()
    print(f"{'message':28} {'ours in med/p99 ms':>20} {'ours out med/p99':>18} "
          f"{'josev out med/p99':>19} {'ratio p50':>9}")
    ratios, worst_p99 = [], 0.0
    for name, o in ours["outside"].items():
        i = ours["inside"].get(name, {})
        j = josev["outside"].get(name) if josev else None
        ratio = j["median_ms"] / o["median_ms"] if j else None
        if ratio:
            ratios.append(ratio)
        worst_p99 = max(worst_p99, i.get("p99_ms", 0.0))
        print(f"{name:28} {i.get('median_ms', 0):9.3f}/{i.get('p99_ms', 0):<9.3f} "
              f"{o['median_ms']:8.3f}/{o['p99_ms']:<8.3f} "
              + (f"{j['median_ms']:9.1f}/{j['p99_ms']:<9.1f} {ratio:8.0f}x" if j and ratio
                 else f"{'-':>19} {'-':>9}"))
    print(f"sessions: ours {n} (failed {len(ours['failed'])}), josev "
          f"{nj if josev else 0} (failed {len(josev['failed']) if josev else '-'})")
    print(f"RSS of our SECC process with a session running: {ours['rss_kb'] / 1024:.1f} MiB")
    p99_met = worst_p99 < GOAL_P99_S * 1e3
    ratio_met = bool(ratios) and min(ratios) >= GOAL_RATIO
    print(f"goal p99 < 5 ms per message (inside): {'met' if p99_met else 'NOT met'} "
          f"(worst {worst_p99:.3f} ms); >= 10x Josev: "
          + (f"{'met' if ratio_met else 'NOT met'} (lowest {min(ratios):.0f}x)" if ratios
             else f"not measured ({josev_why})"))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"ours": ours, "josev": josev, "goal_p99_met": p99_met,
                               "goal_ratio_met": ratio_met, "josev_unavailable": josev_why},
                              indent=1))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        Path(sys.argv[3]).write_text(json.dumps(asyncio.run(serve(sys.argv[2]))))
    elif sys.argv[1] == "ev":
        Path(sys.argv[4]).write_text(json.dumps(asyncio.run(ev_sessions(sys.argv[2],
                                                                         int(sys.argv[3])))))
    else:
        sys.exit(main())
