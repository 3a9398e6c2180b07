"""Going offline during V2X and back (OCPP 2.1 Q11/Q12), for one EVSE's profile in force.

A profile with maxOfflineDuration stays valid that long after the station went offline,
then is invalid while offline and the station falls back to a valid profile lower in the
stack; with invalidAfterOfflineDuration it stays invalid even after reconnecting (until
the CSMS sends a new profile). This is how a CentralFrequency profile, whose setpoints
stop arriving with the connection, falls back to LocalFrequency: the lower profile, or
when none was given the same period's own v2xBaseline and v2xFreqWattCurve executed
locally; with neither, Idle (no power: safety first).

Pure: the caller reports connection changes and asks with `now` (time.monotonic()).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from evse.energy.composite import EvseContext, InstalledProfile, active_period, period_at
from evse.energy.operation_modes import IDLE, LOCAL_FREQUENCY
from evse.energy.types import SchedulePeriod


def local_frequency_of(period: SchedulePeriod) -> SchedulePeriod | None:
    """The period's own local frequency support (Q08 fields), if it carries one."""
    curve = period.get("v2xFreqWattCurve") or []
    if "v2xBaseline" not in period or len(curve) < 2:
        return None
    out: SchedulePeriod = {
        "operationMode": LOCAL_FREQUENCY,
        "v2xBaseline": period["v2xBaseline"],
        "v2xFreqWattCurve": list(curve),
    }
    # The limits still bound what is executed locally (and the unit they are in).
    for key in ("chargingRateUnit", "startPeriod", "limit", "dischargeLimit", "numberPhases"):
        if key in period:
            out[key] = period[key]
    return out


@dataclass(slots=True)
class OfflineFallback:
    max_offline_s: float | None  # maxOfflineDuration; None: valid however long offline
    invalid_after: bool = False  # invalidAfterOfflineDuration
    offline_since: float | None = None  # None while online
    invalidated: bool = False  # permanently invalid (invalidAfterOfflineDuration)

    def went_offline(self, now: float) -> None:
        if self.offline_since is None:
            self.offline_since = now

    def came_online(self, now: float) -> None:
        """Q12: resuming; the central profile is valid again unless it was invalidated."""
        self.offline_since = None

    def new_profile(self, max_offline_s: float | None, invalid_after: bool = False) -> None:
        """The CSMS sent a (new) profile: its own offline rules, valid again."""
        self.max_offline_s = max_offline_s
        self.invalid_after = invalid_after
        self.invalidated = False

    def expired(self, now: float) -> bool:
        """Whether the profile is invalid now (Q11)."""
        if self.invalidated:
            return True
        if self.offline_since is None or self.max_offline_s is None:
            return False
        over = now - self.offline_since >= self.max_offline_s  # 0: invalid at once
        if over and self.invalid_after:
            self.invalidated = True
        return over

    def resolve(
        self, period: SchedulePeriod | None, now: float, lower: SchedulePeriod | None = None
    ) -> SchedulePeriod | None:
        """The period to execute now: `period` while valid, else the fallback."""
        if period is None or not self.expired(now):
            return period
        if lower is not None:
            return lower
        return local_frequency_of(period) or {"operationMode": IDLE}


def _tx_lead(
    profiles: Sequence[InstalledProfile], evse_id: int, now_utc: datetime, ctx: EvseContext
) -> InstalledProfile | None:
    """The Tx(Default)Profile in force on the EVSE (K08: the TxProfile of the running
    transaction, else the highest stackLevel, an EVSE's own before a station-wide one)."""
    best: tuple[tuple[int, int, int], InstalledProfile] | None = None
    for ip in profiles:
        if ip.invalid or ip.purpose not in ("TxProfile", "TxDefaultProfile"):
            continue
        if ip.purpose == "TxProfile":
            tx = ip.profile.get("transactionId")
            if ip.evse_id != evse_id or tx is None or tx != ctx.transaction_id:
                continue
        elif ip.evse_id not in (0, evse_id):
            continue
        if period_at(ip, now_utc, ctx) is None:
            continue
        key = (ip.purpose == "TxProfile", ip.stack_level, ip.evse_id == evse_id)
        if best is None or key > best[0]:
            best = (key, ip)
    return None if best is None else best[1]


def period_in_force(
    profiles: Sequence[InstalledProfile],
    evse_id: int,
    now_utc: datetime,
    ctx: EvseContext,
    now: float,
) -> SchedulePeriod | None:
    """The period to execute on the EVSE with the real connection state in `ctx`
    (offline_s: seconds offline so far, None while online; `now`: time.monotonic()).

    Q11: once the Tx(Default)Profile in force is past its maxOfflineDuration, a valid
    profile lower in the stack takes over; when none is left, the expired period's own
    LocalFrequency (a CentralFrequency profile goes on locally), else Idle, never the
    "no profile" default (which would charge at whatever the config asks). Q12: online
    again, the profile applies again (unless invalidAfterOfflineDuration marked it)."""
    online = replace(ctx, offline_s=None)
    in_force = active_period(profiles, evse_id, now_utc, online)
    if ctx.offline_s is None:
        return in_force
    with_expiry = active_period(profiles, evse_id, now_utc, ctx)  # expired ones left out
    lead = _tx_lead(profiles, evse_id, now_utc, online)
    if lead is None or lead.profile.get("maxOfflineDuration") is None:
        return with_expiry
    fallback = OfflineFallback(
        float(lead.profile["maxOfflineDuration"]),
        bool(lead.profile.get("invalidAfterOfflineDuration", False)),
        offline_since=now - ctx.offline_s,
    )
    lower = with_expiry if _tx_lead(profiles, evse_id, now_utc, ctx) is not None else None
    return fallback.resolve(in_force, now, lower)
