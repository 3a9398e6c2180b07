"""The daemon pushes the grid controls in force into the SunSpec inverter (over Modbus TCP
to the simulated inverter), so the inverter protects on its own when hal is gone, and
pushes them again after the inverter vanished and came back with its settings lost."""

from __future__ import annotations

import asyncio
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from devsim_helpers import run

from hal.config import HalConfig, parse_hal
from hal.config_reader import Table
from hal.daemon import HalDaemon
from hal.sdnotify import Notifier
from hal.sim.transports.sim_inverter import SimInverterDevice
from tests.conftest import WAIT_S

CONFIG = """
[hal]
socket = "{dir}/hal.sock"
state_dir = "{dir}/state"
[grid]
nominal_voltage_v = 230.0
nominal_frequency_hz = 50.0
[grid.trip]
hv_must_trip = [[0.1, 125.0]]
lv_must_trip = [[0.3, 45.0], [3.0, 80.0]]
hf_must_trip = [[0.1, 51.5]]
lf_must_trip = [[0.1, 47.5]]
[grid.freq_droop]
over_freq_hz = 50.2
under_freq_hz = 49.8
over_droop = 0.05
under_droop = 0.05
response_time_s = 2.0
[[evse]]
id = 1
kind = "dc"
max_charge_w = 11000.0
max_discharge_w = 11000.0
[devices]
mode = "sim-transports"
command_timeout_s = 0.25
sim_transports = {{ meter = "rtu", stage = "tcp" }}
"""


def _pushed(inv: SimInverterDevice) -> bool:
    return inv.get(707, "Ena") == 1 and inv.get(711, "Ena") == 1


async def until(pred: Callable[[], bool]) -> None:
    """Poll a condition; fail only when it never holds (WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while not pred():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.01)


def test_grid_protection_lands_in_the_inverter_and_is_restored() -> None:
    async def scenario(cfg: HalConfig) -> None:
        daemon = HalDaemon(cfg, Notifier({}))
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            await until(
                lambda: daemon.devices is not None and daemon.devices.sim_transports is not None
            )
            assert daemon.devices is not None and daemon.devices.sim_transports is not None
            sim = daemon.devices.sim_transports.evses[1]
            inv = sim.inverter
            await until(lambda: _pushed(inv))
            assert inv.get(707, "Crv[0].MustTrip.ActPt") == 2
            assert inv.scaled(707, "Crv[0].MustTrip.Pt[0].V") == pytest.approx(45.0)
            assert inv.scaled(707, "Crv[0].MustTrip.Pt[1].Tms") == pytest.approx(3.0)
            assert inv.scaled(708, "Crv[0].MustTrip.Pt[0].V") == pytest.approx(125.0)
            assert inv.scaled(709, "Crv[0].MustTrip.Pt[0].Hz") == pytest.approx(47.5)
            assert inv.scaled(710, "Crv[0].MustTrip.Pt[0].Hz") == pytest.approx(51.5)
            assert inv.scaled(711, "Ctl[0].DbOf") == pytest.approx(0.2)
            assert inv.scaled(711, "Ctl[0].KOf") == pytest.approx(0.05)
            assert inv.scaled(711, "Ctl[0].RspTms") == pytest.approx(2.0)

            # The inverter reboots and comes back with factory settings: hal saw the stage
            # fault, so it pushes its protection again once the stage answers.
            await sim.stage_server.vanish()
            inv.factory_reset()
            assert not _pushed(inv)
            # a fault hal's loop has seen (then the push loop forgets what it pushed)
            await until(lambda: "stage-1" in daemon.units[1].faults.active)
            await asyncio.sleep(1.5)  # ... and the once-a-second push loop too
            await sim.stage_server.come_back()
            await until(lambda: _pushed(inv))
            assert inv.scaled(707, "Crv[0].MustTrip.Pt[1].V") == pytest.approx(80.0)
        finally:
            stop.set()
            await asyncio.wait_for(task, WAIT_S)

    with tempfile.TemporaryDirectory(prefix="evse-") as d:
        run(scenario(parse_hal(Table(tomllib.loads(CONFIG.format(dir=d)), ""), Path(d))))
