"""OCPP 2.1 Q09 LocalLoadBalancing end to end: a real hal process reads the simulated
site's grid meter (an SDM630 served as Modbus RTU on a pty, read by hal's real driver),
reports it as `grid_meter`, and the controller's energy manager moves the EVSE's power so
the exchange at the grid connection point goes to zero while the house load steps."""

from __future__ import annotations

import asyncio
from pathlib import Path

from evse.config import load_station
from evse.controller import Controller
from evse.energy.types import SchedulePeriod
from tests.conftest import HalProcess, sim_config

HOUSE_W = 3000.0  # the house consumes: the EVSE discharges to cover it
STEP_AT_S = 20.0  # ... then PV surplus: the EVSE charges with it
SURPLUS_W = -5000.0
SITE = f"""
[sim.grid_meter]
house_w = {HOUSE_W}
[[sim.grid_meter.steps]]
at_s = {STEP_AT_S}
house_w = {SURPLUS_W}
"""


class Periods:
    def __init__(self, period: SchedulePeriod) -> None:
        self.period = period

    def current_period(self, evse_id: int) -> SchedulePeriod | None:
        return self.period


def _site_config(directory: Path) -> Path:
    path = sim_config(directory)
    text = path.read_text().replace(
        'mode = "sim"', 'mode = "sim-transports"\nsim_transports = { meter = "rtu", stage = "tcp" }'
    )
    path.write_text(text + SITE)
    return path


def _balanced(ctrl: Controller, evse_w: float) -> bool:
    """The EVSE at `evse_w` and the grid meter (read since) showing no exchange."""
    r, view = ctrl.grid_meter.report, ctrl.evses.get(1)
    m = view.measurement if view else None
    return (
        r is not None
        and r.valid
        and m is not None
        and abs(m.active_w - evse_w) < 300.0
        and abs(r.total_w) < 300.0
    )


async def _until(pred: object, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not pred():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def test_q09_local_load_balancing_follows_house_load_steps_to_zero_exchange(
    short_tmp: Path,
) -> None:
    cfg = load_station(_site_config(short_tmp))
    hal = HalProcess(cfg.path).start()
    periods = Periods(
        {
            "chargingRateUnit": "W",
            "operationMode": "LocalLoadBalancing",
            "limit": 11000.0,
            "dischargeLimit": -11000.0,
        }
    )

    async def scenario() -> None:
        # no CSMS here: the test stands in for the V2X authorization (Q01)
        ctrl = Controller(cfg, 0.0, period_source=periods, may_discharge=lambda _: True)
        stop = asyncio.Event()
        run = asyncio.create_task(ctrl.run(stop))
        try:
            # Q09: the house's 3 kW come from the car; the grid exchange converges to zero.
            await _until(lambda: _balanced(ctrl, -HOUSE_W), STEP_AT_S)
            seq = ctrl.grid_meter.report.seq if ctrl.grid_meter.report else 0
            # The house load steps to a 5 kW surplus: the car charges with it.
            await _until(lambda: _balanced(ctrl, -SURPLUS_W), STEP_AT_S + 30.0)
            report = ctrl.grid_meter.report
            assert report is not None and report.seq > seq  # new readings, not a repeat
            assert ctrl._sent_request[1].operation_mode == "LocalLoadBalancing"
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)
        assert ctrl.failed is None

    try:
        asyncio.run(scenario())
    finally:
        hal.stop()
