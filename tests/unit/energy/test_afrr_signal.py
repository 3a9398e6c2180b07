"""AFRRSignal handling (OCPP 2.1 Q08): accepted only with a v2xSignalWattCurve in force,
active from its timestamp, and turned into baseline + curve(signal) by the manager."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from evse.energy.manager import EnergyInputs, EvLimits, decide
from evse.energy.types import SchedulePeriod
from evse.ocpp.afrr import AfrrSignals
from evse.ocpp.endpoint import OcppCallError

AFRR: SchedulePeriod = {
    "chargingRateUnit": "W",
    "operationMode": "CentralFrequency",
    "setpoint": 1000.0,
    "v2xBaseline": 1000.0,
    "v2xSignalWattCurve": [{"signal": 0, "power": 0.0}, {"signal": 100, "power": -8000.0}],
}


def wall() -> datetime:
    return datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)


class Periods:
    def __init__(self, period: SchedulePeriod | None) -> None:
        self.period = period

    def current_period(self, evse_id: int) -> SchedulePeriod | None:
        return self.period


def call(a: AfrrSignals, ts: str, signal: int) -> dict[str, object]:
    return asyncio.run(a.on_afrr_signal({"timestamp": ts, "signal": signal}))


def test_q08_no_signal_watt_curve_rejects_with_reason() -> None:
    a = AfrrSignals(Periods({"operationMode": "CentralFrequency", "setpoint": 0.0}), 1, wall)
    assert call(a, "2026-12-01T12:00:00Z", 10) == {
        "status": "Rejected",
        "statusInfo": {"reasonCode": "NoSignalWattCurve"},
    }
    assert AfrrSignals(object(), 1, wall).signal_at(datetime.now(UTC)) is None


def test_q08_signal_becomes_active_at_its_timestamp_and_sets_the_power() -> None:
    a = AfrrSignals(Periods(AFRR), 1, wall)
    assert call(a, "2026-12-01T12:00:00Z", 25) == {"status": "Accepted"}
    assert call(a, "2026-12-01T12:00:10Z", 50) == {"status": "Accepted"}
    assert a.signal_at(datetime(2026, 12, 1, 11, 59, 59, tzinfo=UTC)) is None
    sig = a.signal_at(datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC))
    assert sig == 25
    d = decide(EnergyInputs(1, AFRR, EvLimits(11000, 11000), 0.0, True, afrr_signal=sig))
    assert d.request.setpoint_w == pytest.approx(1000.0 - 2000.0)  # baseline + curve(25)
    assert a.signal_at(datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)) == 50
    assert a.signal_now() == 50


def test_bad_timestamp_is_a_format_violation() -> None:
    a = AfrrSignals(Periods(AFRR), 1, wall)
    with pytest.raises(OcppCallError) as err:
        call(a, "yesterday", 1)
    assert err.value.code == "FormatViolation"
