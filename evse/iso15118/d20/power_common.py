"""What the -20 energy handlers share: response codes, the session check, the EVSE
notification and meter reading of a loop answer, and the station's limits per direction.

Pure functions of (ctx, view); no I/O. Sign convention as in `types.py`: + into the car.
"""

from __future__ import annotations

from typing import Any, Literal

from evse.iso15118.d20.rational import from_float, to_float
from evse.iso15118.d20.types import SessionContext, StationView
from evse.iso15118.exi._generated.shared_types import (
    EVSEStatusType,
    MeterInfoType,
    RationalNumberType,
)

# The codes these handlers answer with (a subset of -20 responseCodeType).
Code = Literal[
    "OK",
    "WARNING_StandbyNotAllowed",
    "FAILED",
    "FAILED_ContactorError",
    "FAILED_EVPowerProfileInvalid",
    "FAILED_EVPowerProfileViolation",
    "FAILED_PowerDeliveryNotApplied",
    "FAILED_ScheduleSelectionInvalid",
    "FAILED_SequenceError",
    "FAILED_UnknownSession",
    "FAILED_WrongChargeParameter",
]

ZERO = RationalNumberType(Exponent=0, Value=0)
# Per-phase scratch in ctx.extra: a phase the car leaves without finishing (PreCharge ->
# PowerDelivery, a SessionStop(Pause) mid cable check) must not leak into a later one.
# Cleared by ChargeParameterDiscovery (every session's energy part starts there, a resumed
# one too) and by PowerDelivery.
PHASE_SCRATCH = ("schedule_exchange_started_at", "cable_check_started_at",
                 "precharge_started_at", "precharge_target_v", "welding_check_asked")
GRID_STOPPED = frozenset({"tripped", "ceased"})


def rn(x: float) -> RationalNumberType:
    return from_float(x)


def fl(r: RationalNumberType | None) -> float | None:
    return None if r is None else to_float(r)


def mag(r: RationalNumberType | None) -> float:
    """A discharge value as a magnitude: -20 is read both ways, we accept either sign."""
    return 0.0 if r is None else abs(to_float(r))


def session_ok(req: Any, ctx: SessionContext) -> bool:
    """[V2G20-...] every request carries the SessionID of SessionSetupRes; another
    ID is answered with FAILED_UnknownSession."""
    return bool(req.Header.SessionID == ctx.session_id)


def end_phases(ctx: SessionContext) -> None:
    for key in PHASE_SCRATCH:
        ctx.extra.pop(key, None)


def is_bpt(ctx: SessionContext) -> bool:
    return ctx.service in ("AC_BPT", "DC_BPT")


def evse_status(ctx: SessionContext, view: StationView) -> EVSEStatusType | None:
    """EVSENotification from the station's wish: Terminate beats Pause."""
    delay = ctx.config.notification_max_delay_s
    if view.stop_requested:
        return EVSEStatusType(NotificationMaxDelay=delay, EVSENotification="Terminate")
    if view.pause_requested:
        return EVSEStatusType(NotificationMaxDelay=delay, EVSENotification="Pause")
    return None


def meter_info(ctx: SessionContext, view: StationView) -> MeterInfoType:
    """The latest meter reading hal reported (the loop never waits for a fresh one)."""
    return MeterInfoType(
        MeterID=ctx.config.evseid or str(ctx.config.evse_id),
        ChargedEnergyReadingWh=round(view.energy_in_wh or 0.0),
        BPT_DischargedEnergyReadingWh=round(view.energy_out_wh or 0.0) if is_bpt(ctx) else None,
        MeterTimestamp=view.epoch_s,
    )


# --- the station's limits per direction ---------------------------------------------


def ac_phases(ctx: SessionContext) -> tuple[int, int]:
    """(charge phases, discharge phases) in use: ours and the car's, each direction on
    its own (a car may import on 3 phases and export on 1; scaling the export limit by
    the import phases offers 3x too much, the known bug in the reference)."""
    ours = max(1, ctx.config.limits.phases)
    got = ctx.extra.get("ac_phases")
    if isinstance(got, tuple) and len(got) == 2:
        return min(ours, int(got[0])), min(ours, int(got[1]))
    return ours, ours


def charge_limit_w(ctx: SessionContext) -> float:
    """Our charge capability for this session (magnitude), before the grid constraint."""
    lim = ctx.config.limits
    if ctx.namespace == "ac" or ctx.service in ("AC", "AC_BPT"):
        return min(lim.max_charge_w, lim.nominal_v * lim.max_charge_a * ac_phases(ctx)[0])
    return lim.max_charge_w


def discharge_limit_w(ctx: SessionContext, view: StationView) -> float:
    """Our discharge capability (magnitude): zero unless BPT and OCPP Q01 allows it."""
    lim = ctx.config.limits
    if not is_bpt(ctx) or not view.may_discharge:
        return 0.0
    if ctx.service == "AC_BPT":
        return min(lim.max_discharge_w, lim.nominal_v * lim.max_discharge_a * ac_phases(ctx)[1])
    return lim.max_discharge_w


def target_w(ctx: SessionContext, view: StationView) -> tuple[float, bool]:
    """The power the car gets now (signed) and whether a limit cut the station's wish.

    It is the station's request already capped by hal's grid constraint
    (`view.target_w`), cut further to hal's allowed range, our capability per direction
    and the car's limits. No decision yet, a grid trip / cessation, or a stop / pause the
    station wants: zero (safety first).
    """
    wish = view.target_w
    if wish is None or view.grid_state in GRID_STOPPED:
        return 0.0, wish is not None and wish != 0.0
    if view.stop_requested or view.pause_requested:
        return 0.0, wish != 0.0
    hi = charge_limit_w(ctx)
    lo = -discharge_limit_w(ctx, view)
    if view.max_w is not None:
        hi = min(hi, view.max_w)
    if view.min_w is not None:
        lo = max(lo, view.min_w)
    ev = ctx.ev
    if ev is not None:
        hi = min(hi, ev.max_charge_w)
        lo = max(lo, -ev.max_discharge_w)
    hi = max(hi, 0.0)
    lo = min(lo, 0.0)
    out = min(max(wish, lo), hi)
    return out, out != wish


def ac_split(total_w: float, phases: int
             ) -> tuple[RationalNumberType, RationalNumberType | None, RationalNumberType | None]:
    """-20 AC values are per phase: the plain field is L1, _L2 / _L3 the others (absent:
    single phase). A total spread evenly over the phases of its own direction."""
    n = min(max(phases, 1), 3)
    per = rn(total_w / n)
    return per, per if n >= 2 else None, per if n >= 3 else None
