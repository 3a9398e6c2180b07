"""SetChargingProfile validation (K01 / Q rules), each with the reasonCode the CSMS sees."""

from __future__ import annotations

from typing import Any

import pytest

from evse.energy.composite import InstalledProfile
from evse.ocpp.profile_validation import StationLimits, validate

LIMITS = StationLimits(evse_ids=frozenset({1, 2}), max_stack_level=8, periods_per_schedule=4)
TXS: dict[int, str | None] = {1: "T1", 2: None}
CURVE = [{"frequency": 49.8, "power": 5000}, {"frequency": 50.2, "power": -5000}]


def prof(
    purpose: str = "TxDefaultProfile",
    periods: list[dict[str, Any]] | None = None,
    *,
    pid: int = 1,
    stack: int = 0,
    kind: str = "Absolute",
    unit: str = "W",
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods or [{"startPeriod": 0, "limit": 1000}],
    }
    if kind in ("Absolute", "Recurring"):
        schedule["startSchedule"] = "2026-06-01T12:00:00Z"
    return {
        "id": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }


def reason(evse_id: int, profile: dict[str, Any], **kw: Any) -> str | None:
    installed: list[InstalledProfile] = kw.get("installed", [])
    limits: StationLimits = kw.get("limits", LIMITS)
    rejection = validate(evse_id, profile, installed, limits, TXS)
    return None if rejection is None else rejection.reason_code


def test_valid_profiles_of_every_purpose_are_accepted() -> None:
    assert reason(0, prof("ChargingStationMaxProfile")) is None
    assert reason(1, prof("TxDefaultProfile")) is None
    assert reason(1, prof("TxProfile", transactionId="T1")) is None
    assert reason(0, prof("ChargingStationExternalConstraints")) is None
    assert reason(1, prof("PriorityCharging")) is None
    assert reason(0, prof("LocalGeneration")) is None


def test_K01_FR_03_tx_profile_needs_transaction_id() -> None:
    assert reason(1, prof("TxProfile")) == "MissingParam"


def test_K01_FR_09_tx_profile_needs_a_running_transaction_on_the_evse() -> None:
    assert reason(2, prof("TxProfile", transactionId="T1")) == "TxNotFound"
    assert reason(1, prof("TxProfile", transactionId="T9")) == "TxNotFound"


def test_K01_FR_16_tx_profile_not_on_evse_0() -> None:
    assert reason(0, prof("TxProfile", transactionId="T1")) == "InvalidValue"


def test_K01_FR_38_station_max_profile_evse_0_and_not_relative() -> None:
    assert reason(1, prof("ChargingStationMaxProfile")) == "InvalidValue"
    assert reason(0, prof("ChargingStationMaxProfile", kind="Relative")) == "InvalidProfile"


def test_K01_FR_06_duplicate_stack_level_and_purpose_rejected_same_id_replaces() -> None:
    old = InstalledProfile(1, prof(pid=7))
    assert reason(1, prof(pid=8), installed=[old]) == "DuplicateProfile"
    assert reason(1, prof(pid=7), installed=[old]) is None  # K01.FR.05
    later = prof(pid=8, validFrom="2030-01-01T00:00:00Z")
    bounded = InstalledProfile(1, prof(pid=7, validTo="2029-01-01T00:00:00Z"))
    assert reason(1, later, installed=[bounded]) is None  # validity does not overlap


def test_K01_FR_52_tx_default_same_stack_level_on_evse_0_and_an_evse() -> None:
    station_wide = InstalledProfile(0, prof(pid=7))
    assert reason(1, prof(pid=8), installed=[station_wide]) == "DuplicateProfile"


def test_K01_FR_39_tx_profile_stack_level_taken_for_the_transaction() -> None:
    old = InstalledProfile(1, prof("TxProfile", pid=7, transactionId="T1"))
    assert reason(1, prof("TxProfile", pid=8, transactionId="T1"), installed=[old]) == (
        "InvalidStackLevel"
    )


def test_stack_level_above_profile_stack_level_rejected() -> None:
    assert reason(1, prof(stack=9)) == "InvalidStackLevel"


def test_unknown_evse_and_bad_profile_id() -> None:
    assert reason(5, prof()) == "UnknownEvse"
    assert reason(1, prof(pid=0)) == "InvalidProfileId"


def test_K01_FR_40_41_start_schedule_by_kind_and_recurrency() -> None:
    relative_with_start = prof(kind="Relative")
    relative_with_start["chargingSchedule"][0]["startSchedule"] = "2026-06-01T12:00:00Z"
    assert reason(1, relative_with_start) == "InvalidSchedule"
    absolute = prof()
    del absolute["chargingSchedule"][0]["startSchedule"]
    assert reason(1, absolute) == "InvalidSchedule"
    assert reason(1, prof(kind="Recurring")) == "InvalidProfile"
    assert reason(1, prof(kind="Recurring", recurrencyKind="Weekly")) is None


def test_validity_window_must_not_be_empty() -> None:
    p = prof(validFrom="2026-06-02T00:00:00Z", validTo="2026-06-01T00:00:00Z")
    assert reason(1, p) == "InvalidProfile"


def test_K01_FR_26_rate_unit_must_be_supported() -> None:
    limits = StationLimits(evse_ids=frozenset({1}), rate_units=("A",))
    assert reason(1, prof(unit="W"), limits=limits) == "UnsupportedRateUnit"


def test_K01_FR_31_35_period_order_and_count() -> None:
    assert reason(1, prof(periods=[{"startPeriod": 5, "limit": 1}])) == "InvalidSchedule"
    bad_order = [{"startPeriod": 0, "limit": 1}, {"startPeriod": 0, "limit": 2}]
    assert reason(1, prof(periods=bad_order)) == "InvalidSchedule"
    many = [{"startPeriod": i, "limit": 1} for i in range(5)]
    assert reason(1, prof(periods=many)) == "TooManyElements"


def test_K01_phase_to_use_only_with_one_phase() -> None:
    p = prof(periods=[{"startPeriod": 0, "limit": 16, "numberPhases": 3, "phaseToUse": 1}])
    assert reason(1, p) == "InvalidSchedule"


@pytest.mark.parametrize(
    ("purpose", "mode", "ok"),
    [
        ("ChargingStationMaxProfile", "CentralSetpoint", False),
        ("PriorityCharging", "ExternalLimits", False),
        ("ChargingStationExternalConstraints", "ExternalSetpoint", True),
        ("ChargingStationExternalConstraints", "CentralSetpoint", False),
        ("LocalGeneration", "ExternalLimits", True),
        ("LocalGeneration", "ExternalSetpoint", False),
        ("TxDefaultProfile", "LocalLoadBalancing", True),
    ],
)
def test_Q_operation_mode_per_purpose(purpose: str, mode: str, ok: bool) -> None:
    period = {"startPeriod": 0, "limit": 1000, "operationMode": mode}
    evse = 1 if purpose in ("TxDefaultProfile", "PriorityCharging") else 0
    assert (reason(evse, prof(purpose, [period])) is None) is ok


def test_Q_charging_only_needs_limit_and_central_modes_need_setpoint() -> None:
    assert reason(1, prof(periods=[{"startPeriod": 0}])) == "InvalidSchedule"
    central = [{"startPeriod": 0, "limit": 5000, "operationMode": "CentralSetpoint"}]
    assert reason(1, prof(periods=central)) == "InvalidSchedule"
    freq = [{"startPeriod": 0, "operationMode": "CentralFrequency"}]
    assert reason(1, prof(periods=freq)) == "InvalidSchedule"
    central[0]["setpoint"] = 3000
    assert reason(1, prof(periods=central)) is None


def test_V2X_05_setpoint_within_discharge_limit_and_limit() -> None:
    base = {"startPeriod": 0, "operationMode": "CentralSetpoint", "limit": 5000}
    assert reason(1, prof(periods=[{**base, "setpoint": 6000}])) == "InvalidSchedule"
    low = {**base, "dischargeLimit": -2000, "setpoint": -3000}
    assert reason(1, prof(periods=[low])) == "InvalidSchedule"
    per_phase = {**base, "setpoint": 100, "setpoint_L2": 900, "limit_L2": 800}
    assert reason(1, prof(periods=[per_phase])) == "InvalidSchedule"


def test_Q08_FR_02_local_frequency_needs_baseline_and_two_curve_points() -> None:
    period = {"startPeriod": 0, "operationMode": "LocalFrequency", "v2xBaseline": 0}
    assert reason(1, prof(periods=[period])) == "NoFreqWattCurve"
    one = {**period, "v2xFreqWattCurve": CURVE[:1]}
    assert reason(1, prof(periods=[one])) == "NoFreqWattCurve"
    no_base = {"startPeriod": 0, "operationMode": "LocalFrequency", "v2xFreqWattCurve": CURVE}
    assert reason(1, prof(periods=[no_base])) == "NoFreqWattCurve"
    assert reason(1, prof(periods=[{**period, "v2xFreqWattCurve": CURVE}])) is None


def test_Q08_FR_05_local_frequency_needs_watts() -> None:
    period = {
        "startPeriod": 0,
        "operationMode": "LocalFrequency",
        "v2xBaseline": 0,
        "v2xFreqWattCurve": CURVE,
    }
    assert reason(1, prof(periods=[period], unit="A")) == "UnsupportedRateUnit"


def test_Q09_FR_01_mode_must_be_in_supported_operation_modes() -> None:
    limits = StationLimits(
        evse_ids=frozenset({1, 2}),
        supported_modes={1: ["ChargingOnly", "Idle"], 2: ["ChargingOnly", "CentralSetpoint"]},
    )
    period = {"startPeriod": 0, "limit": 10, "setpoint": 5, "operationMode": "CentralSetpoint"}
    assert reason(1, prof(periods=[period]), limits=limits) == "UnsupportedParam"
    assert reason(2, prof(periods=[period]), limits=limits) is None
    assert reason(0, prof(periods=[period]), limits=limits) == "UnsupportedParam"


def test_Q_evse_sleep_only_with_idle() -> None:
    sleep = {"startPeriod": 0, "limit": 0, "evseSleep": True}
    assert reason(1, prof(periods=[sleep])) == "InvalidSchedule"
    assert reason(1, prof(periods=[{**sleep, "operationMode": "Idle"}])) is None
