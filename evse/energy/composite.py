"""K08 composite schedule: the charging profiles installed -> the period in force.

Pure: profiles, the EVSE's context and `now` in, periods out; nothing here awaits or
reads a clock. Per purpose the profile in force with the highest stackLevel wins (K08);
an EVSE-specific TxDefaultProfile beats a station-wide one at the same level, and a
TxProfile of the running transaction replaces the TxDefaultProfile. The purposes are
then combined: the tightest limit of ChargingStationMaxProfile, Tx(Default)Profile,
ChargingStationExternalConstraints and LocalGeneration, the tightest dischargeLimit
(closest to zero), and the 2.1 fields (operationMode, setpoint, v2xBaseline, curves ...)
of the leading profile (Tx, else external constraints, else local generation, else max),
with the setpoint kept inside [dischargeLimit, limit] (V2X.05).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from evse.energy.types import SchedulePeriod

DAY_S = 86400
WEEK_S = 7 * DAY_S
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

LIMIT_KEYS = ("limit", "limit_L2", "limit_L3")
DISCHARGE_KEYS = ("dischargeLimit", "dischargeLimit_L2", "dischargeLimit_L3")
SETPOINT_KEYS = ("setpoint", "setpoint_L2", "setpoint_L3")
REACTIVE_KEYS = ("setpointReactive", "setpointReactive_L2", "setpointReactive_L3")
SCALED_KEYS = LIMIT_KEYS + DISCHARGE_KEYS + SETPOINT_KEYS + REACTIVE_KEYS
CARRIED_KEYS = (
    "phaseToUse",
    "preconditioningRequest",
    "evseSleep",
    "v2xBaseline",
    "operationMode",
    "v2xFreqWattCurve",
    "v2xSignalWattCurve",
)
# Leading purpose first: its mode and setpoints are the ones carried into the result.
PURPOSE_ORDER = (
    "TxProfile",
    "ChargingStationExternalConstraints",
    "LocalGeneration",
    "ChargingStationMaxProfile",
)


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    """A ChargingProfileType as received (2.1 field names) and the EVSE it was set on."""

    evse_id: int
    profile: Mapping[str, Any]
    source: str = "CSO"
    invalid: bool = False  # invalidAfterOfflineDuration was reached: never applies again

    @property
    def id(self) -> int:
        return int(self.profile["id"])

    @property
    def purpose(self) -> str:
        return str(self.profile["chargingProfilePurpose"])

    @property
    def stack_level(self) -> int:
        return int(self.profile["stackLevel"])


@dataclass(frozen=True, slots=True)
class EvseContext:
    """What decides which profiles apply beyond the profiles themselves."""

    transaction_id: str | None = None
    tx_start: datetime | None = None  # Relative profiles count from here (else from now)
    offline_s: float | None = None  # seconds offline so far; None while online
    priority_charging: bool = False  # UsePriorityCharging active: PriorityCharging leads
    voltage: float = 230.0  # for converting between A and W
    phases: int = 3


def parse_time(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def profile_valid(profile: Mapping[str, Any], t: datetime, offline_s: float | None) -> bool:
    """validFrom <= t < validTo, and not past maxOfflineDuration while offline (Q11)."""
    if "validFrom" in profile and t < parse_time(profile["validFrom"]):
        return False
    if "validTo" in profile and t >= parse_time(profile["validTo"]):
        return False
    limit = profile.get("maxOfflineDuration")
    return not (limit is not None and offline_s is not None and offline_s >= limit)


def schedule_start(
    profile: Mapping[str, Any], t: datetime, tx_start: datetime | None
) -> datetime | None:
    """Start of the schedule occurrence that covers `t` (None: not started)."""
    kind = profile["chargingProfileKind"]
    schedule = profile["chargingSchedule"][0]
    if kind == "Relative":
        return tx_start if tx_start is not None else t
    if "startSchedule" in schedule:
        start = parse_time(schedule["startSchedule"])
    elif kind == "Dynamic":
        start = parse_time(profile["validFrom"]) if "validFrom" in profile else EPOCH
    else:
        return None
    if t < start:
        return None
    if kind == "Recurring":
        step = WEEK_S if profile.get("recurrencyKind") == "Weekly" else DAY_S
        cycles = int((t - start).total_seconds() // step)
        start += timedelta(seconds=cycles * step)
    return start


def period_at(
    ip: InstalledProfile, t: datetime, ctx: EvseContext
) -> tuple[Mapping[str, Any], str] | None:
    """The profile's period in force at `t` and its unit, or None."""
    profile = ip.profile
    if not profile_valid(profile, t, ctx.offline_s):
        return None
    start = schedule_start(profile, t, ctx.tx_start)
    if start is None:
        return None
    schedule = profile["chargingSchedule"][0]
    offset = (t - start).total_seconds()
    if "duration" in schedule and offset >= schedule["duration"]:
        return None
    chosen = None
    for period in schedule["chargingSchedulePeriod"]:
        if period["startPeriod"] <= offset:
            chosen = period
    return None if chosen is None else (chosen, str(schedule["chargingRateUnit"]))


def _applies(ip: InstalledProfile, evse_id: int, ctx: EvseContext) -> bool:
    if ip.purpose == "TxProfile":
        tx = ip.profile.get("transactionId")
        return ip.evse_id == evse_id and tx is not None and tx == ctx.transaction_id
    return ip.evse_id in (0, evse_id)


def _winners(
    profiles: Iterable[InstalledProfile], evse_id: int, t: datetime, ctx: EvseContext
) -> dict[str, tuple[Mapping[str, Any], str]]:
    """Per purpose group the period of the highest stackLevel in force (K08)."""
    best: dict[str, tuple[tuple[int, int, int], Mapping[str, Any], str]] = {}
    for ip in profiles:
        if ip.invalid or not _applies(ip, evse_id, ctx):
            continue
        found = period_at(ip, t, ctx)
        if found is None:
            continue
        purpose = ip.purpose
        if purpose == "PriorityCharging":
            if not ctx.priority_charging:
                continue
            rank = 2  # K21/K22: PriorityCharging overrules TxProfile / TxDefaultProfile while on
        elif purpose == "TxProfile":
            rank = 1  # K01: a TxProfile overrides the TxDefaultProfile
        else:
            rank = 0
        group = "TxProfile" if purpose in ("TxDefaultProfile", "PriorityCharging") else purpose
        key = (rank, ip.stack_level, 1 if ip.evse_id == evse_id else 0)
        if group not in best or key > best[group][0]:
            best[group] = (key, found[0], found[1])
    return {g: (period, unit) for g, (_, period, unit) in best.items()}


def _convert(value: float, unit: str, to_unit: str, phases: int, ctx: EvseContext) -> float:
    if unit == to_unit:
        return value
    factor = ctx.voltage * phases
    return value * factor if to_unit == "W" else value / factor


def _in_unit(
    period: Mapping[str, Any], unit: str, to_unit: str, ctx: EvseContext
) -> dict[str, Any]:
    phases = int(period.get("numberPhases", ctx.phases))
    # With values for L2/L3 each field is one phase's, else the sum of all phases.
    per_phase = any(k in period for k in ("limit_L2", "dischargeLimit_L2", "setpoint_L2"))
    n = 1 if per_phase else phases
    out: dict[str, Any] = {}
    for key in SCALED_KEYS:
        if key in period:
            out[key] = _convert(float(period[key]), unit, to_unit, n, ctx)
    return out


def merge_periods(
    winners: Mapping[str, tuple[Mapping[str, Any], str]], unit: str | None, ctx: EvseContext
) -> SchedulePeriod | None:
    """Combine the purposes' periods into one (see the module docstring)."""
    order = [g for g in PURPOSE_ORDER if g in winners]
    if not order:
        return None
    lead_period, lead_unit = winners[order[0]]
    to_unit = unit or lead_unit
    result: dict[str, Any] = {"chargingRateUnit": to_unit}
    scaled = {g: _in_unit(p, u, to_unit, ctx) for g, (p, u) in winners.items()}
    for key in LIMIT_KEYS:
        values = [s[key] for s in scaled.values() if key in s]
        if values:
            result[key] = min(values)
    for key in DISCHARGE_KEYS:
        values = [s[key] for s in scaled.values() if key in s]
        if values:
            result[key] = max(values)  # negative: closest to zero is the tightest
    lead = scaled[order[0]]
    for key in SETPOINT_KEYS + REACTIVE_KEYS:
        if key in lead:
            result[key] = lead[key]
    for sp, lim, dis in zip(SETPOINT_KEYS, LIMIT_KEYS, DISCHARGE_KEYS, strict=True):
        if sp in result:  # V2X.05: the setpoint stays within [dischargeLimit, limit]
            if lim in result:
                result[sp] = min(result[sp], result[lim])
            if dis in result:
                result[sp] = max(result[sp], result[dis])
    phases = [int(p["numberPhases"]) for p, _ in winners.values() if "numberPhases" in p]
    if phases:
        result["numberPhases"] = min(phases)
    for key in CARRIED_KEYS:
        if key in lead_period:
            result[key] = lead_period[key]
    result.setdefault("operationMode", "ChargingOnly")  # the 2.1 default when absent
    return cast(SchedulePeriod, result)


def active_period(
    profiles: Sequence[InstalledProfile],
    evse_id: int,
    now_utc: datetime,
    ctx: EvseContext | None = None,
    unit: str | None = None,
) -> SchedulePeriod | None:
    """The merged period in force on the EVSE at `now_utc` (None: no profile applies)."""
    ctx = ctx or EvseContext()
    period = merge_periods(_winners(profiles, evse_id, now_utc, ctx), unit, ctx)
    if period is not None:
        period["startPeriod"] = 0
    return period


def _breakpoints(
    profiles: Sequence[InstalledProfile], start: datetime, end: datetime, ctx: EvseContext
) -> list[datetime]:
    """Every moment in [start, end) where some profile's period may change."""
    points = {start}
    for ip in profiles:
        p = ip.profile
        for key in ("validFrom", "validTo"):
            if key in p:
                points.add(parse_time(p[key]))
        schedule = p["chargingSchedule"][0]
        t = start
        while t < end:
            origin = schedule_start(p, t, ctx.tx_start or start)
            if origin is None:
                first = parse_time(schedule["startSchedule"]) if "startSchedule" in schedule else t
                if first <= t:
                    break
                t = first  # starts later inside the window
                continue
            for period in schedule["chargingSchedulePeriod"]:
                points.add(origin + timedelta(seconds=period["startPeriod"]))
            if "duration" in schedule:
                points.add(origin + timedelta(seconds=schedule["duration"]))
            if p["chargingProfileKind"] != "Recurring":
                break
            step = WEEK_S if p.get("recurrencyKind") == "Weekly" else DAY_S
            t = origin + timedelta(seconds=step)
            points.add(t)
    return sorted(x for x in points if start <= x < end)


def composite_schedule(
    profiles: Sequence[InstalledProfile],
    evse_id: int,
    start: datetime,
    duration_s: int,
    unit: str | None,
    ctx: EvseContext | None = None,
) -> list[SchedulePeriod]:
    """K08: the composite periods from `start` for `duration_s`; startPeriod relative to
    `start`, equal neighbours merged. A stretch where no profile applies is a period with
    no limit (the EVSE's own maximum applies)."""
    ctx = ctx or EvseContext()
    if ctx.tx_start is None:
        ctx = replace(ctx, tx_start=start)
    end = start + timedelta(seconds=duration_s)
    out: list[SchedulePeriod] = []
    last: dict[str, Any] | None = None
    for t in _breakpoints(profiles, start, end, ctx):
        period = active_period(profiles, evse_id, t, ctx, unit)
        body: dict[str, Any] = dict(period) if period is not None else {}
        body.pop("startPeriod", None)
        body.pop("chargingRateUnit", None)
        if body == last:
            continue
        last = body
        offset = int((t - start).total_seconds())
        out.append(cast(SchedulePeriod, {"startPeriod": offset, **body}))
    return out
