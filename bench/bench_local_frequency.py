"""LocalFrequency (OCPP 2.1 Q08) response to a frequency step, measured at the stage.

The hal daemon runs here on simulated devices, sampled every 10 ms; a separate client
process (as evse would be) asks for LocalFrequency (baseline 1 kW, curve 49.8 Hz +4 kW ..
50.2 Hz -4 kW, linear). Frequency steps 49.9 <-> 50.1 Hz (a 4 kW step of the target) are
scripted on the simulated grid (`SimGrid.set_override`) at random moments between
samples, first with the client connected, then after it was killed (hal runs on for
`hal.local_frequency_hold_s`). Per step:
- setpoint latency: from the step until hal writes the new power to the stage;
- stage t90: until the stage's measured power made 90 % of the change (the simulated
  stage is first-order, time constant 50 ms: its own t90 is 2.3 x 50 ms = 115 ms).
Goal (issue 11): one sample plus the stage's own response.
Environment: BENCH_LF_N (steps per phase, default 40).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from evse.config import load_station
from hal.daemon import HalDaemon
from hal.sdnotify import Notifier

ROOT = Path(__file__).resolve().parents[1]
PERIOD_MS = 10
STAGE_TAU_S = 0.05

STATION = """
[logging]
level = "error"
[hal]
socket = "{dir}/hal.sock"
state_dir = "{dir}/state"
period_ms = {period}
keepalive_timeout_s = 0.5
local_frequency_hold_s = 600.0
ramp_down_s = 2.0
report_period_ms = 100
[grid]
nominal_voltage_v = 230.0
nominal_frequency_hz = 50.0
[[evse]]
id = 1
kind = "dc"
max_charge_w = 11000.0
max_discharge_w = 11000.0
phases = 3
[devices]
mode = "sim"
[sim.grid]
seed = 1
[sim.power_stage]
time_constant_s = {tau}
rate_limit_w_per_s = 1000000.0
[sim.ev]
plug_in_at_s = 0.0
[sim.mcu]
contactor_delay_s = 0.01
keepalive_timeout_s = 5.0
[controller]
keepalive_interval_s = 0.1
"""

CLIENT = r"""
import socket, sys, threading, time
from hal import protocol as p
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def drain():
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
threading.Thread(target=drain, daemon=True).start()
curve = [{"frequency": 49.8, "power": 4000.0}, {"frequency": 50.2, "power": -4000.0}]
for m in (
    p.Hello(p.PROTOCOL_VERSION, "bench-evse"),
    p.PilotCommand(1, 5.0),
    p.AllowPowerOn(1, True, "bench"),
    p.PowerRequest(1, "setpoint", 1000.0, -8000.0, 8000.0, operation_mode="LocalFrequency",
                   baseline_w=1000.0, freq_watt=curve),
):
    s.sendall(p.encode_message(m))
n = 0
while True:
    n += 1
    s.sendall(p.encode_message(p.KeepAlive(n)))
    time.sleep(0.1)
"""


def target(hz: float) -> float:
    return 1000.0 + (50.0 - hz) / 0.2 * 4000.0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def wait_until(cond: object, within: float, poll: float = 0.001) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if cond():  # type: ignore[operator]
            return True
        await asyncio.sleep(poll)
    return False


async def run_steps(daemon: HalDaemon, n: int, rng: random.Random) -> dict[str, list[float]]:
    assert daemon.devices is not None and daemon.devices.world is not None
    world = daemon.devices.world
    stage = world.evses[1].stage
    writes: list[tuple[float, float]] = []
    dev = daemon.devices.sets[1].stage
    original = dev.set_power

    async def set_power(active_w: float, reactive_var: float) -> None:
        writes.append((daemon.clock(), active_w))
        await original(active_w, reactive_var)

    dev.set_power = set_power  # type: ignore[method-assign]
    out: dict[str, list[float]] = {"setpoint": [], "stage_t90": [], "missed": []}
    hz = 49.9
    try:
        for _ in range(n):
            await asyncio.sleep(0.4 + rng.random() * PERIOD_MS / 1000.0)
            world.advance(daemon.clock())
            p0 = stage.active_w
            hz = 50.1 if hz < 50.0 else 49.9
            want = target(hz)
            writes.clear()
            t0 = daemon.clock()
            world.grid.set_override(None, hz)
            need = p0 + 0.9 * (want - p0)

            def reached(need: float = need, down: bool = want < p0) -> bool:
                world.advance(daemon.clock())
                w = stage.active_w
                return w <= need if down else w >= need

            if not await wait_until(reached, 2.0):
                out["missed"].append(t0)
                continue
            t90 = daemon.clock() - t0
            hit = next((t for t, w in writes if abs(w - want) < 40.0), None)
            if hit is not None:
                out["setpoint"].append(hit - t0)
            out["stage_t90"].append(t90)
    finally:
        dev.set_power = original  # type: ignore[method-assign]
    return out


def report(name: str, r: dict[str, list[float]]) -> None:
    for key in ("setpoint", "stage_t90"):
        v = r[key]
        if v:
            print(
                f"  {name:22s} {key:10s} median {statistics.median(v) * 1e3:6.1f} ms"
                f"  p99 {pct(v, 0.99) * 1e3:6.1f} ms  max {max(v) * 1e3:6.1f} ms  [{len(v)}]"
            )
    if r["missed"]:
        print(f"  {name}: {len(r['missed'])} step(s) not followed within 2 s")


async def bench(workdir: Path) -> int:
    n = int(os.environ.get("BENCH_LF_N", "40"))
    cfg_path = workdir / "station.toml"
    cfg_path.write_text(STATION.format(dir=workdir, period=PERIOD_MS, tau=STAGE_TAU_S))
    cfg = load_station(cfg_path).hal
    daemon = HalDaemon(cfg, Notifier({}))
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    client: asyncio.subprocess.Process | None = None
    try:
        if not await wait_until(lambda: cfg.socket_path.exists(), 10.0, 0.01):
            raise RuntimeError("hal did not come up")
        assert daemon.devices is not None and daemon.devices.world is not None
        stage = daemon.devices.world.evses[1].stage
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENT, str(cfg.socket_path), env=env
        )
        if not await wait_until(lambda: abs(stage.active_w - 1000.0) < 50.0, 10.0, 0.01):
            raise RuntimeError("LocalFrequency did not start")
        rng = random.Random(2026)
        online = await run_steps(daemon, n, rng)
        client.kill()
        await client.wait()
        client = None
        if not await wait_until(lambda: not daemon.link_alive, 5.0, 0.01):
            raise RuntimeError("hal did not notice the client leaving")
        offline = await run_steps(daemon, n, rng)
    finally:
        if client is not None:
            client.kill()
            await client.wait()
        stop.set()
        await task
    print(
        f"LocalFrequency step 49.9 <-> 50.1 Hz (target +-4 kW), sample period {PERIOD_MS} ms,"
        f" simulated stage tau {STAGE_TAU_S * 1e3:.0f} ms"
        f" (own t90 {2.3 * STAGE_TAU_S * 1e3:.0f} ms)"
    )
    report("evse connected", online)
    report("evse gone (hold)", offline)
    goal = PERIOD_MS / 1000.0 + 2.3 * STAGE_TAU_S + 0.005
    t90s = online["stage_t90"] + offline["stage_t90"]
    if t90s:
        p99 = pct(t90s, 0.99)
        print(
            f"  goal: stage t90 p99 <= one sample + stage t90 + 5 ms = {goal * 1e3:.0f} ms:"
            f" {'met' if p99 <= goal else 'NOT met'} ({p99 * 1e3:.1f} ms)"
        )
    return 0 if not online["missed"] and not offline["missed"] else 1


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="evse-bench-"))
    try:
        return asyncio.run(bench(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
