"""K08 composite schedule and the period in force (evse/energy/composite.py), pure."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from evse.energy.composite import (
    EvseContext,
    InstalledProfile,
    active_period,
    composite_schedule,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def prof(
    pid: int,
    purpose: str,
    periods: list[dict[str, Any]],
    stack: int = 0,
    unit: str = "W",
    kind: str = "Absolute",
    start: datetime = T0,
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "id": pid,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }
    if kind != "Relative":
        schedule["startSchedule"] = start.isoformat()
    for key in ("duration",):
        if key in extra:
            schedule[key] = extra.pop(key)
    return {
        "id": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }


def test_K08_higher_stack_level_wins_within_a_purpose() -> None:
    low = InstalledProfile(1, prof(1, "TxDefaultProfile", [{"startPeriod": 0, "limit": 7000}]))
    high = InstalledProfile(
        1, prof(2, "TxDefaultProfile", [{"startPeriod": 0, "limit": 3000}], stack=2)
    )
    period = active_period([low, high], 1, T0 + timedelta(minutes=1))
    assert period is not None and period["limit"] == 3000


def test_K08_purposes_combine_to_the_tightest_limit_and_lead_mode() -> None:
    station_max = InstalledProfile(
        0, prof(1, "ChargingStationMaxProfile", [{"startPeriod": 0, "limit": 5000}])
    )
    tx_default = InstalledProfile(
        0,
        prof(
            2,
            "TxDefaultProfile",
            [
                {
                    "startPeriod": 0,
                    "limit": 9000,
                    "dischargeLimit": -9000,
                    "setpoint": 8000,
                    "operationMode": "CentralSetpoint",
                }
            ],
        ),
    )
    external = InstalledProfile(
        0,
        prof(
            3,
            "ChargingStationExternalConstraints",
            [{"startPeriod": 0, "limit": 6000, "dischargeLimit": -4000}],
        ),
    )
    period = active_period([station_max, tx_default, external], 1, T0)
    assert period is not None
    assert period["limit"] == 5000
    assert period["dischargeLimit"] == -4000
    assert period["operationMode"] == "CentralSetpoint"
    assert period["setpoint"] == 5000  # V2X.05: clamped into [dischargeLimit, limit]
    assert period["chargingRateUnit"] == "W"


def test_K01_tx_profile_only_for_its_transaction_and_over_tx_default() -> None:
    default = InstalledProfile(1, prof(1, "TxDefaultProfile", [{"startPeriod": 0, "limit": 7000}]))
    tx = InstalledProfile(
        1,
        prof(2, "TxProfile", [{"startPeriod": 0, "limit": 2000}], transactionId="T1"),
    )
    assert active_period([default, tx], 1, T0, EvseContext("T1"))["limit"] == 2000  # type: ignore[index]
    assert active_period([default, tx], 1, T0, EvseContext("T2"))["limit"] == 7000  # type: ignore[index]


def test_K01_validity_and_daily_recurrence() -> None:
    p = prof(
        1,
        "TxDefaultProfile",
        [{"startPeriod": 0, "limit": 1000}, {"startPeriod": 3600, "limit": 2000}],
        kind="Recurring",
        recurrencyKind="Daily",
        validTo=(T0 + timedelta(days=3)).isoformat(),
    )
    ip = InstalledProfile(1, p)
    day2 = T0 + timedelta(days=2)
    assert active_period([ip], 1, day2 + timedelta(minutes=5))["limit"] == 1000  # type: ignore[index]
    assert active_period([ip], 1, day2 + timedelta(hours=2))["limit"] == 2000  # type: ignore[index]
    assert active_period([ip], 1, T0 - timedelta(minutes=1)) is None
    assert active_period([ip], 1, T0 + timedelta(days=3, minutes=1)) is None


def test_Q11_profile_past_max_offline_duration_falls_back_to_lower_stack_level() -> None:
    local = InstalledProfile(
        1,
        prof(
            1,
            "TxDefaultProfile",
            [
                {
                    "startPeriod": 0,
                    "operationMode": "LocalFrequency",
                    "v2xBaseline": 0,
                    "v2xFreqWattCurve": [
                        {"frequency": 49.8, "power": 5000},
                        {"frequency": 50.2, "power": -5000},
                    ],
                }
            ],
        ),
    )
    central = InstalledProfile(
        1,
        prof(
            2,
            "TxDefaultProfile",
            [{"startPeriod": 0, "setpoint": 3000, "operationMode": "CentralFrequency"}],
            stack=1,
            maxOfflineDuration=60,
        ),
    )
    online = active_period([local, central], 1, T0, EvseContext(offline_s=None))
    offline = active_period([local, central], 1, T0, EvseContext(offline_s=61))
    assert online is not None and online["operationMode"] == "CentralFrequency"
    assert offline is not None and offline["operationMode"] == "LocalFrequency"
    assert len(offline["v2xFreqWattCurve"]) == 2


def test_K08_composite_schedule_periods_and_unit_conversion() -> None:
    p = prof(
        1,
        "TxDefaultProfile",
        [{"startPeriod": 0, "limit": 16}, {"startPeriod": 600, "limit": 10}],
        unit="A",
        duration=1200,
    )
    out = composite_schedule([InstalledProfile(1, p)], 1, T0, 1800, "W", EvseContext())
    assert [x["startPeriod"] for x in out] == [0, 600, 1200]
    assert out[0]["limit"] == 16 * 230 * 3
    assert out[1]["limit"] == 10 * 230 * 3
    assert "limit" not in out[2]  # after the schedule's duration nothing limits


def test_K08_composite_with_100_profiles_on_one_evse() -> None:
    profiles = [
        InstalledProfile(
            1,
            prof(
                i,
                "TxDefaultProfile",
                [{"startPeriod": 0, "limit": 10000 - i}, {"startPeriod": 60 * i, "limit": 500}],
                stack=i % 9,
                validFrom=T0.isoformat(),
            ),
        )
        for i in range(1, 101)
    ]
    out = composite_schedule(profiles, 1, T0, 86400, "W")
    assert out[0]["startPeriod"] == 0
    assert all(a["startPeriod"] < b["startPeriod"] for a, b in itertools.pairwise(out))


def test_K01_relative_profile_counts_from_the_transaction_start() -> None:
    p = prof(
        1,
        "TxProfile",
        [{"startPeriod": 0, "limit": 1000}, {"startPeriod": 600, "limit": 2000}],
        kind="Relative",
        transactionId="T1",
    )
    ctx = EvseContext("T1", tx_start=T0)
    ip = InstalledProfile(1, p)
    assert active_period([ip], 1, T0 + timedelta(seconds=100), ctx)["limit"] == 1000  # type: ignore[index]
    assert active_period([ip], 1, T0 + timedelta(seconds=700), ctx)["limit"] == 2000  # type: ignore[index]


def test_K08_composite_includes_a_recurring_schedule_that_starts_later() -> None:
    p = prof(
        1,
        "TxDefaultProfile",
        [{"startPeriod": 0, "limit": 1000}, {"startPeriod": 3600, "limit": 2000}],
        kind="Recurring",
        recurrencyKind="Daily",
        start=T0 + timedelta(hours=2),
    )
    out = composite_schedule([InstalledProfile(1, p)], 1, T0, 2 * 86400, "W")
    starts = [(x["startPeriod"], x.get("limit")) for x in out]
    assert starts == [
        (0, None),
        (7200, 1000),
        (10800, 2000),
        (86400 + 7200, 1000),
        (86400 + 10800, 2000),
    ]
