"""Q11/Q12 with the composite schedule: `period_in_force` picks the period to execute
from the installed profiles and the connection state (pure, `now` passed in)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from evse.energy.composite import EvseContext, InstalledProfile
from evse.energy.offline_fallback import period_in_force

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
CURVE = [{"frequency": 49.8, "power": 5000}, {"frequency": 50.2, "power": -5000}]


def tx_default(pid: int, level: int, period: dict[str, Any], **extra: Any) -> InstalledProfile:
    schedule = {
        "id": 1,
        "chargingRateUnit": "W",
        "startSchedule": "2026-01-01T00:00:00Z",
        "chargingSchedulePeriod": [{"startPeriod": 0, **period}],
    }
    p = {
        "id": pid,
        "stackLevel": level,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [schedule],
        **extra,
    }
    return InstalledProfile(1, p)


CENTRAL = {"operationMode": "CentralFrequency", "setpoint": 2000.0, "v2xBaseline": 500.0,
           "v2xFreqWattCurve": CURVE, "limit": 7000.0}


def mode(profiles: list[InstalledProfile], offline_s: float | None) -> str | None:
    p = period_in_force(profiles, 1, NOW, EvseContext(offline_s=offline_s), 1000.0)
    return None if p is None else p.get("operationMode")


def test_q11_central_frequency_alone_goes_local_frequency_past_max_offline() -> None:
    profiles = [tx_default(1, 0, CENTRAL, maxOfflineDuration=60)]
    assert mode(profiles, None) == "CentralFrequency"
    assert mode(profiles, 59.0) == "CentralFrequency"
    p = period_in_force(profiles, 1, NOW, EvseContext(offline_s=60.0), 1000.0)
    assert p is not None and p["operationMode"] == "LocalFrequency"
    assert (p["v2xBaseline"], p["limit"]) == (500.0, 7000.0)


def test_q11_a_valid_profile_lower_in_the_stack_takes_over() -> None:
    lower = tx_default(2, 0, {"operationMode": "ChargingOnly", "limit": 3000.0})
    profiles = [tx_default(1, 1, CENTRAL, maxOfflineDuration=60), lower]
    assert mode(profiles, 61.0) == "ChargingOnly"


def test_q11_no_local_curve_and_nothing_lower_means_idle() -> None:
    bare = {"operationMode": "CentralSetpoint", "setpoint": 2000.0}
    assert mode([tx_default(1, 0, bare, maxOfflineDuration=5)], 5.0) == "Idle"


def test_q12_invalid_after_offline_duration_profile_is_left_out_online() -> None:
    ip = tx_default(1, 0, CENTRAL, maxOfflineDuration=5, invalidAfterOfflineDuration=True)
    stale = InstalledProfile(ip.evse_id, ip.profile, invalid=True)  # marked by SmartCharging
    assert mode([stale], None) is None
