"""Q11/Q12: a CentralFrequency profile falls back to LocalFrequency after
maxOfflineDuration offline and resumes when the CSMS is back."""

from __future__ import annotations

from evse.energy.manager import EnergyInputs, EvLimits, decide
from evse.energy.offline_fallback import OfflineFallback
from evse.energy.types import SchedulePeriod

CENTRAL: SchedulePeriod = {
    "chargingRateUnit": "W",
    "operationMode": "CentralFrequency",
    "setpoint": -3000.0,
    "v2xBaseline": 0.0,
    "v2xFreqWattCurve": [{"frequency": 49.8, "power": 5000}, {"frequency": 50.2, "power": -5000}],
    "limit": 7000.0,
    "dischargeLimit": -7000.0,
}


def test_q11_central_frequency_falls_back_to_local_frequency_after_max_offline() -> None:
    fb = OfflineFallback(max_offline_s=30.0)
    assert fb.resolve(CENTRAL, 0.0) is CENTRAL
    fb.went_offline(100.0)
    assert fb.resolve(CENTRAL, 129.9) is CENTRAL  # still valid within maxOfflineDuration
    p = fb.resolve(CENTRAL, 130.0)
    assert p is not None and p["operationMode"] == "LocalFrequency"
    assert p["v2xFreqWattCurve"] == CENTRAL["v2xFreqWattCurve"]
    d = decide(EnergyInputs(1, p, EvLimits(11000, 11000), 130.0, may_discharge=True))
    assert d.request.operation_mode == "LocalFrequency"
    assert (d.request.min_w, d.request.max_w) == (-7000.0, 7000.0)


def test_q11_a_lower_profile_in_the_stack_wins_over_the_own_curve() -> None:
    fb = OfflineFallback(max_offline_s=0.0)  # 0: invalid at once while offline
    fb.went_offline(5.0)
    lower: SchedulePeriod = {"operationMode": "ChargingOnly", "limit": 4000.0}
    assert fb.resolve(CENTRAL, 5.0, lower) is lower


def test_q11_without_any_fallback_the_station_idles() -> None:
    fb = OfflineFallback(max_offline_s=1.0)
    fb.went_offline(0.0)
    bare: SchedulePeriod = {"operationMode": "CentralFrequency", "setpoint": 2000.0}
    assert fb.resolve(bare, 2.0) == {"operationMode": "Idle"}


def test_q12_resuming_online_restores_the_central_profile() -> None:
    fb = OfflineFallback(max_offline_s=10.0)
    fb.went_offline(0.0)
    assert fb.resolve(CENTRAL, 20.0) is not CENTRAL
    fb.came_online(21.0)
    assert fb.resolve(CENTRAL, 21.0) is CENTRAL


def test_q12_invalid_after_offline_duration_stays_invalid_until_a_new_profile() -> None:
    fb = OfflineFallback(max_offline_s=10.0, invalid_after=True)
    fb.went_offline(0.0)
    assert fb.resolve(CENTRAL, 11.0) is not CENTRAL
    fb.came_online(12.0)
    assert fb.resolve(CENTRAL, 12.0) is not CENTRAL
    fb.new_profile(10.0, invalid_after=True)
    assert fb.resolve(CENTRAL, 13.0) is CENTRAL


def test_no_max_offline_duration_keeps_the_profile_valid_offline() -> None:
    fb = OfflineFallback(max_offline_s=None)
    fb.went_offline(0.0)
    assert fb.resolve(CENTRAL, 1e6) is CENTRAL
