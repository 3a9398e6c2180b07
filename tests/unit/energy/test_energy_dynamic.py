"""Q04 dynamic schedule updates and the pull scheduler (evse/energy/dynamic.py), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from evse.energy.dynamic import apply_update, next_pull, pull_interval

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def dynamic(**extra: Any) -> dict[str, Any]:
    return {
        "id": 5,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Dynamic",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "startSchedule": T0.isoformat(),
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 8000, "setpoint": 1000},
                    {"startPeriod": 3600, "limit": 8000, "setpoint": 2000},
                ],
            }
        ],
        **extra,
    }


def test_Q04_update_sets_fields_of_the_period_in_force_only() -> None:
    old = dynamic()
    new = apply_update(old, {"setpoint": -3000, "dischargeLimit": -5000}, T0, "stamp")
    first, second = new["chargingSchedule"][0]["chargingSchedulePeriod"]
    assert first == {"startPeriod": 0, "limit": 8000, "setpoint": -3000, "dischargeLimit": -5000}
    assert second["setpoint"] == 2000
    assert new["dynUpdateTime"] == "stamp"
    assert old["chargingSchedule"][0]["chargingSchedulePeriod"][0]["setpoint"] == 1000  # copy
    later = apply_update(old, {"setpoint": 500}, T0 + timedelta(hours=2), "s")
    assert later["chargingSchedule"][0]["chargingSchedulePeriod"][1]["setpoint"] == 500


def test_Q04_pull_interval_only_for_dynamic_profiles_with_an_interval() -> None:
    assert pull_interval(dynamic(dynUpdateInterval=30)) == 30
    assert pull_interval(dynamic(dynUpdateInterval=0)) is None
    assert pull_interval(dynamic()) is None
    assert (
        pull_interval({**dynamic(dynUpdateInterval=30), "chargingProfileKind": "Absolute"}) is None
    )


def test_Q04_next_pull_is_interval_after_last_update() -> None:
    assert next_pull({}, {}, 100.0) is None
    assert next_pull({5: 30, 6: 10}, {5: 100.0, 6: 115.0}, 120.0) == (6, 125.0)
    assert next_pull({5: 30}, {5: 100.0}, 200.0) == (5, 130.0)  # overdue: due at once
