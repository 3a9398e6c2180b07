"""LocalLoadBalancing (OCPP 2.1 Q09): how fast the exchange at the grid connection point
returns to zero after the house load steps.

hal runs here in sim-transports mode (the grid meter is a simulated SDM630 on a Modbus
RTU pty, read by hal's real driver about once a second) with evse's controller in the
same process following a LocalLoadBalancing period. The house load steps every
`STEP_EVERY_S` through a fixed list (consumption and PV surplus, both within the EVSE's
11 kW). Per step: the time from the step until the exchange, measured in the simulated
world, stays within 100 W. The floor is the grid meter's read period (1 s): the step is
seen at the next reading. Environment: BENCH_LLB_STEPS (default 8).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from evse.config import load_station
from evse.controller import Controller
from evse.energy.types import SchedulePeriod
from hal.daemon import HalDaemon
from hal.sdnotify import Notifier

STEP_EVERY_S = 6.0
LOADS_W = [3000.0, -5000.0, 1500.0, -2000.0, 6000.0, -8000.0, 500.0, 4000.0]
BAND_W = 100.0

STATION = """
[logging]
level = "error"
[hal]
socket = "{dir}/hal.sock"
state_dir = "{dir}/state"
keepalive_timeout_s = 2.0
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
mode = "sim-transports"
sim_transports = {{ meter = "rtu", stage = "tcp" }}
[sim.grid]
seed = 1
[sim.power_stage]
time_constant_s = 0.2
rate_limit_w_per_s = 20000.0
[sim.ev]
plug_in_at_s = 0.0
[sim.mcu]
contactor_delay_s = 0.03
keepalive_timeout_s = 5.0
[sim.grid_meter]
house_w = 0.0
{steps}
[controller]
keepalive_interval_s = 0.1
"""

PERIOD: SchedulePeriod = {
    "chargingRateUnit": "W",
    "operationMode": "LocalLoadBalancing",
    "limit": 11000.0,
    "dischargeLimit": -11000.0,
}


class Periods:
    def current_period(self, evse_id: int) -> SchedulePeriod | None:
        return PERIOD


async def bench(workdir: Path, n: int) -> int:
    loads = (LOADS_W * (n // len(LOADS_W) + 1))[:n]
    steps = "".join(
        f"[[sim.grid_meter.steps]]\nat_s = {(k + 1) * STEP_EVERY_S}\nhouse_w = {w}\n"
        for k, w in enumerate(loads)
    )
    path = workdir / "station.toml"
    path.write_text(STATION.format(dir=workdir, steps=steps))
    cfg = load_station(path)
    daemon = HalDaemon(cfg.hal, Notifier({}))
    stop_hal, stop_ctrl = asyncio.Event(), asyncio.Event()
    hal = asyncio.create_task(daemon.run(stop_hal))
    while not cfg.hal.socket_path.exists():  # noqa: ASYNC110 (a file, no event to wait on)
        await asyncio.sleep(0.01)
    ctrl = Controller(cfg, 0.0, period_source=Periods(), may_discharge=lambda _: True)
    run = asyncio.create_task(ctrl.run(stop_ctrl))
    assert daemon.devices is not None and daemon.devices.world is not None
    world = daemon.devices.world
    settle: list[float] = []
    try:
        for k in range(n):
            at = world.started_at + (k + 1) * STEP_EVERY_S
            end = at + STEP_EVERY_S
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            inside_since: float | None = None
            while (now := time.monotonic()) < end:
                if abs(world.site_w(now)) <= BAND_W:
                    inside_since = inside_since if inside_since is not None else now
                else:
                    inside_since = None
                await asyncio.sleep(0.005)
            if inside_since is None:
                print(f"  step {k}: house {loads[k]:+.0f} W: never settled")
                continue
            settle.append(inside_since - at)
            print(f"  step {k}: house {loads[k]:+.0f} W: settled in {settle[-1]:.2f} s")
    finally:
        stop_ctrl.set()
        await run
        stop_hal.set()
        await hal
    if settle:
        print(
            f"LocalLoadBalancing settle within {BAND_W:.0f} W after a house step: "
            f"median {statistics.median(settle):.2f} s, max {max(settle):.2f} s "
            f"({len(settle)}/{n} steps; grid meter read every 1 s)"
        )
    return 0 if len(settle) == n else 1


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="evse-bench-"))
    try:
        return asyncio.run(bench(workdir, int(os.environ.get("BENCH_LLB_STEPS", "8"))))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
