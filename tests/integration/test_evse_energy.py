"""The controller asks its PeriodSource for the charging-schedule period in force and hal
executes the energy manager's request (OCPP 2.1 Q03, Q08); with no period, the config's
request stays. A real hal process on simulated hardware."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from evse.config import load_station
from evse.controller import Controller
from evse.energy.types import SchedulePeriod
from evse.ocpp.afrr import AfrrSignals
from tests.conftest import HalProcess, sim_config


class Periods:
    """What the smart-charging block answers: the period in force, changed by the test."""

    def __init__(self) -> None:
        self.period: SchedulePeriod | None = None

    def current_period(self, evse_id: int) -> SchedulePeriod | None:
        return self.period


async def _until(pred: object, seconds: float = 30.0) -> None:
    # Polls the controller's state (owned by its tasks in this loop).
    async with asyncio.timeout(seconds):
        while not pred():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def _at(ctrl: Controller, watts: float) -> bool:
    m = ctrl.evses[1].measurement if 1 in ctrl.evses else None
    return m is not None and abs(m.active_w - watts) < 100.0


def test_q03_q08_controller_follows_the_period_in_force(short_tmp: Path) -> None:
    cfg = load_station(sim_config(short_tmp))
    hal = HalProcess(cfg.path).start()
    periods = Periods()

    async def scenario() -> None:
        # V2X authorized (Q01) for this test: the OCPP side's answer, given here
        ctrl = Controller(cfg, 6000.0, period_source=periods, may_discharge=lambda _: True)
        stop = asyncio.Event()
        run = asyncio.create_task(ctrl.run(stop))
        try:
            await _until(lambda: _at(ctrl, 6000.0))  # no period: the config's request
            periods.period = {
                "chargingRateUnit": "W",
                "operationMode": "CentralSetpoint",
                "setpoint": -4000.0,
                "dischargeLimit": -5000.0,
            }
            await _until(lambda: _at(ctrl, -4000.0))  # Q03: the CSMS's setpoint, discharging
            periods.period = {
                "chargingRateUnit": "W",
                "operationMode": "LocalFrequency",
                "v2xBaseline": 2500.0,
                "v2xFreqWattCurve": [
                    {"frequency": 49.8, "power": 4000.0},
                    {"frequency": 50.2, "power": -4000.0},
                ],
            }
            await _until(lambda: _at(ctrl, 2500.0))  # Q08: 50 Hz, the baseline
            assert ctrl._sent_request[1].operation_mode == "LocalFrequency"
            periods.period = None
            await _until(lambda: _at(ctrl, 6000.0))
            assert ctrl._sent_request[1].operation_mode == ""
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)
        assert ctrl.failed is None

    try:
        asyncio.run(scenario())
    finally:
        hal.stop()


def test_q08_afrr_signal_moves_the_power_by_the_signal_watt_curve(short_tmp: Path) -> None:
    cfg = load_station(sim_config(short_tmp))
    hal = HalProcess(cfg.path).start()
    periods = Periods()
    periods.period = {
        "chargingRateUnit": "W",
        "operationMode": "CentralFrequency",
        "setpoint": 2000.0,
        "v2xBaseline": 2000.0,
        "dischargeLimit": -6000.0,
        "v2xSignalWattCurve": [{"signal": -100, "power": -6000.0}, {"signal": 100, "power": 6000}],
    }
    signals = AfrrSignals(periods, 1, lambda: datetime.now(UTC))

    async def scenario() -> None:
        ctrl = Controller(
            cfg, 6000.0, period_source=periods, signal_source=signals, may_discharge=lambda _: True
        )
        stop = asyncio.Event()
        run = asyncio.create_task(ctrl.run(stop))
        try:
            await _until(lambda: _at(ctrl, 2000.0))  # no signal yet: the CSMS's setpoint
            res = await signals.on_afrr_signal({"timestamp": "2026-01-01T00:00:00Z", "signal": -50})
            assert res == {"status": "Accepted"}
            await _until(lambda: _at(ctrl, -1000.0))  # 2000 + curve(-50) = 2000 - 3000
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)
        assert ctrl.failed is None

    try:
        asyncio.run(scenario())
    finally:
        hal.stop()
