"""K01 / Q SetChargingProfile validation: a profile in, the first rule it breaks out.

Pure. Each rule gives the reasonCode the CSMS sees in statusInfo (Part 2 appendix 5
reason codes) and an additionalInfo naming the rule. The schema (types, enums, sign of
dischargeLimit, 1-3 schedules) is checked before by the RPC session.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evse.energy.composite import EPOCH, InstalledProfile, parse_time

OPERATION_MODES = (
    "Idle",
    "ChargingOnly",
    "CentralSetpoint",
    "ExternalSetpoint",
    "ExternalLimits",
    "CentralFrequency",
    "LocalFrequency",
    "LocalLoadBalancing",
)
# Operation modes each purpose may carry (Q: Tx and TxDefault allow all).
MODES_PER_PURPOSE: dict[str, tuple[str, ...]] = {
    "TxProfile": OPERATION_MODES,
    "TxDefaultProfile": OPERATION_MODES,
    "ChargingStationMaxProfile": ("ChargingOnly",),
    "PriorityCharging": ("ChargingOnly",),
    "ChargingStationExternalConstraints": ("ChargingOnly", "ExternalLimits", "ExternalSetpoint"),
    "LocalGeneration": ("ChargingOnly", "ExternalLimits"),
}
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason_code: str
    info: str

    def status_info(self) -> dict[str, str]:
        return {"reasonCode": self.reason_code, "additionalInfo": self.info}


@dataclass(frozen=True, slots=True)
class StationLimits:
    """What the station supports (SmartChargingCtrlr, V2XChargingCtrlr, its EVSEs)."""

    evse_ids: frozenset[int]
    max_stack_level: int = 8
    rate_units: tuple[str, ...] = ("A", "W")
    periods_per_schedule: int = 48
    # Per EVSE: V2XChargingCtrlr.SupportedOperationModes; absent: all eight (Q09.FR.01).
    supported_modes: Mapping[int, Sequence[str]] = field(default_factory=dict)


def _window(profile: Mapping[str, Any]) -> tuple[datetime, datetime]:
    lo = parse_time(profile["validFrom"]) if "validFrom" in profile else EPOCH
    hi = parse_time(profile["validTo"]) if "validTo" in profile else FAR_FUTURE
    return lo, hi


def _overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    (a0, a1), (b0, b1) = _window(a), _window(b)
    return a0 < b1 and b0 < a1


def validate(
    evse_id: int,
    profile: Mapping[str, Any],
    installed: Sequence[InstalledProfile],
    limits: StationLimits,
    transactions: Mapping[int, str | None],
) -> Rejection | None:
    """None when the profile may be installed on `evse_id`; `transactions` maps each
    EVSE to the id of its running transaction."""
    purpose = profile["chargingProfilePurpose"]
    kind = profile["chargingProfileKind"]
    if evse_id != 0 and evse_id not in limits.evse_ids:
        return Rejection("UnknownEvse", f"EVSE {evse_id} does not exist")
    if profile["id"] <= 0:
        return Rejection("InvalidProfileId", "chargingProfile.id must be > 0")
    if profile["stackLevel"] > limits.max_stack_level:  # SmartChargingCtrlr.ProfileStackLevel
        return Rejection("InvalidStackLevel", f"stackLevel > {limits.max_stack_level}")
    rejection = _purpose_rules(evse_id, profile, installed, transactions)
    if rejection is not None:
        return rejection
    if kind in ("Absolute", "Recurring") and any(
        "startSchedule" not in s for s in profile["chargingSchedule"]
    ):
        return Rejection("InvalidSchedule", "K01.FR.40: Absolute/Recurring need startSchedule")
    if kind == "Relative" and any("startSchedule" in s for s in profile["chargingSchedule"]):
        return Rejection("InvalidSchedule", "K01.FR.41: Relative has no startSchedule")
    if kind == "Recurring" and "recurrencyKind" not in profile:
        return Rejection("InvalidProfile", "Recurring needs recurrencyKind")
    if kind != "Recurring" and "recurrencyKind" in profile:
        return Rejection("InvalidProfile", "recurrencyKind only with Recurring")
    if "validFrom" in profile and "validTo" in profile:
        lo, hi = _window(profile)
        if hi <= lo:
            return Rejection("InvalidProfile", "validTo not after validFrom")
    for schedule in profile["chargingSchedule"]:
        rejection = _schedule_rules(evse_id, purpose, schedule, limits)
        if rejection is not None:
            return rejection
    return None


def _purpose_rules(
    evse_id: int,
    profile: Mapping[str, Any],
    installed: Sequence[InstalledProfile],
    transactions: Mapping[int, str | None],
) -> Rejection | None:
    purpose = profile["chargingProfilePurpose"]
    others = [ip for ip in installed if ip.id != profile["id"]]  # K01.FR.05: same id replaces
    if purpose == "ChargingStationMaxProfile":
        if evse_id != 0:
            return Rejection("InvalidValue", "ChargingStationMaxProfile only on evseId 0")
        if profile["chargingProfileKind"] == "Relative":
            return Rejection("InvalidProfile", "K01.FR.38: ChargingStationMaxProfile not Relative")
    if purpose == "TxProfile":
        if evse_id == 0:
            return Rejection("InvalidValue", "K01.FR.16: TxProfile needs evseId > 0")
        tx = profile.get("transactionId")
        if tx is None:
            return Rejection("MissingParam", "K01.FR.03: TxProfile needs transactionId")
        if transactions.get(evse_id) != tx:
            return Rejection("TxNotFound", f"K01.FR.09: no transaction {tx} on EVSE {evse_id}")
        for ip in others:
            same_tx = ip.profile.get("transactionId") == tx
            if ip.purpose == "TxProfile" and same_tx and ip.stack_level == profile["stackLevel"]:
                return Rejection("InvalidStackLevel", "K01.FR.39: stackLevel in use for this tx")
        return None
    if "transactionId" in profile:
        return Rejection("InvalidValue", "transactionId only in a TxProfile")
    if purpose == "PriorityCharging" and any("duration" in s for s in profile["chargingSchedule"]):
        # K01.FR.70: a PriorityCharging schedule lasts until the transaction ends.
        return Rejection("InvalidSchedule", "K01.FR.70: PriorityCharging has no duration")
    for ip in others:
        if ip.purpose != purpose or ip.stack_level != profile["stackLevel"]:
            continue
        clash = ip.evse_id != evse_id and 0 in (ip.evse_id, evse_id)
        if purpose == "TxDefaultProfile" and clash:  # K01.FR.52/53: EVSE 0 vs one EVSE
            return Rejection("DuplicateProfile", f"K01.FR.52: same stackLevel as {ip.id}")
        if ip.evse_id == evse_id and _overlap(ip.profile, profile):
            return Rejection("DuplicateProfile", f"K01.FR.06: same stackLevel as {ip.id}")
    return None


def _schedule_rules(
    evse_id: int, purpose: str, schedule: Mapping[str, Any], limits: StationLimits
) -> Rejection | None:
    unit = schedule["chargingRateUnit"]
    if unit not in limits.rate_units:
        return Rejection("UnsupportedRateUnit", f"K01.FR.26: {unit} not in RateUnit")
    periods = schedule["chargingSchedulePeriod"]
    if len(periods) > limits.periods_per_schedule:
        return Rejection("TooManyElements", "more periods than PeriodsPerSchedule")
    if periods[0]["startPeriod"] != 0:
        return Rejection("InvalidSchedule", "K01.FR.31: first startPeriod must be 0")
    for a, b in itertools.pairwise(periods):
        if b["startPeriod"] <= a["startPeriod"]:
            return Rejection("InvalidSchedule", "K01.FR.35: startPeriod not increasing")
    if evse_id == 0:
        sets = [set(m) for m in limits.supported_modes.values()]
    else:
        sets = [set(limits.supported_modes.get(evse_id, OPERATION_MODES))]
    supported = set.intersection(*sets) if sets else set(OPERATION_MODES)
    for period in periods:
        rejection = _period_rules(purpose, unit, period, supported)
        if rejection is not None:
            return rejection
    return None


def _period_rules(
    purpose: str, unit: str, period: Mapping[str, Any], supported: set[str]
) -> Rejection | None:
    mode = period.get("operationMode", "ChargingOnly")
    at = f"period {period['startPeriod']}"
    if "phaseToUse" in period and period.get("numberPhases") != 1:
        return Rejection("InvalidSchedule", f"K01.FR.20: phaseToUse needs numberPhases 1 ({at})")
    if mode not in MODES_PER_PURPOSE.get(purpose, OPERATION_MODES):
        return Rejection("InvalidSchedule", f"{mode} not allowed in a {purpose} ({at})")
    if mode not in supported:
        return Rejection("UnsupportedParam", f"Q09.FR.01: {mode} not in SupportedOperationModes")
    if mode == "ChargingOnly" and "limit" not in period:
        return Rejection("InvalidSchedule", f"ChargingOnly needs limit ({at})")
    if mode in ("CentralSetpoint", "CentralFrequency") and "setpoint" not in period:
        return Rejection("InvalidSchedule", f"{mode} needs setpoint ({at})")
    for suffix in ("", "_L2", "_L3"):
        sp = period.get("setpoint" + suffix)
        if sp is None:
            continue
        hi, lo = period.get("limit" + suffix), period.get("dischargeLimit" + suffix)
        if (hi is not None and sp > hi) or (lo is not None and sp < lo):
            return Rejection(
                "InvalidSchedule", f"V2X.05: setpoint{suffix} outside [dischargeLimit, limit]"
            )
    if mode == "LocalFrequency":
        if "v2xBaseline" not in period or len(period.get("v2xFreqWattCurve", ())) < 2:
            return Rejection("NoFreqWattCurve", f"Q08.FR.02: LocalFrequency needs curve ({at})")
        if unit != "W":
            return Rejection("UnsupportedRateUnit", "Q08.FR.05: LocalFrequency needs unit W")
    if period.get("evseSleep") and mode != "Idle":
        return Rejection("InvalidSchedule", f"evseSleep only with operationMode Idle ({at})")
    return None
