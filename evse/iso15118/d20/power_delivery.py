"""PowerDeliveryReq: Start, Stop, Standby or ScheduleRenegotiation of the energy transfer.

It never waits for a contactor: it returns an EnergyTransfer action and the contactor's
state shows in the loop that follows (measurements, EVSENotification). FAILED paths of
the -20 text: a Scheduled start without an EVPowerProfile (FAILED_EVPowerProfileInvalid),
a tuple we did not offer (FAILED_ScheduleSelectionInvalid), a profile above the offered
schedule (FAILED_EVPowerProfileViolation), a discharge channel while OCPP Q01 does not
allow discharge (FAILED_PowerDeliveryNotApplied),
ScheduleRenegotiation outside the loop (FAILED_SequenceError).
"""

from __future__ import annotations

from evse.iso15118.d20.power_common import Code, end_phases, evse_status, fl, session_ok
from evse.iso15118.d20.types import (
    Action,
    DcCommand,
    EnergyTransfer,
    Outcome,
    SessionContext,
    StationView,
    header,
)
from evse.iso15118.exi._generated.common_types import (
    EVPowerProfileType,
    PowerDeliveryReqType,
    PowerDeliveryResType,
)

REQUEST = "PowerDeliveryReq"
RESPONSE = "PowerDeliveryRes"
TOLERANCE = 1.01  # rounding of RationalNumber values on both sides


def _out(ctx: SessionContext, view: StationView, code: Code, nxt: frozenset[str],
         actions: tuple[Action, ...] = ()) -> Outcome:
    res = PowerDeliveryResType(Header=header(ctx, view), ResponseCode=code,
                               EVSEStatus=evse_status(ctx, view))
    return Outcome(RESPONSE, res, "common", nxt, actions)


def _failed(ctx: SessionContext, view: StationView, code: Code) -> Outcome:
    """Stop any transfer on a failure (safety first); the session ends."""
    ctx.energy_transfer = False
    stop: tuple[Action, ...] = (EnergyTransfer(start=False),)
    if ctx.service in ("DC", "DC_BPT"):
        stop += (DcCommand("off"),)
    return _out(ctx, view, code, frozenset(), stop)


def _loop(ctx: SessionContext) -> str:
    return "DC_ChargeLoopReq" if ctx.service in ("DC", "DC_BPT") else "AC_ChargeLoopReq"


def _check_profile(ctx: SessionContext, profile: EVPowerProfileType | None) -> Code:
    """Scheduled: the car's profile must name an offered tuple and stay inside it."""
    if ctx.control_mode != "Scheduled":
        return "OK"
    if profile is None or profile.Scheduled_EVPPTControlMode is None:
        return "FAILED_EVPowerProfileInvalid"
    offered: dict[int, tuple[float, float]] = ctx.extra.get("schedule_tuples", {})
    chosen = profile.Scheduled_EVPPTControlMode.SelectedScheduleTupleID
    if chosen not in offered:
        return "FAILED_ScheduleSelectionInvalid"
    ch, dis = offered[chosen]
    for entry in profile.EVPowerProfileEntries.EVPowerProfileEntry:
        p = fl(entry.Power) or 0.0
        if p > ch * TOLERANCE or -p > dis * TOLERANCE:
            return "FAILED_EVPowerProfileViolation"
    ctx.schedule_tuple_id = chosen
    return "OK"


def handle(req: PowerDeliveryReqType, ctx: SessionContext, view: StationView,
           now: float) -> Outcome:
    if not session_ok(req, ctx):
        return _failed(ctx, view, "FAILED_UnknownSession")
    if req.EVProcessing != "Finished":  # the car is still preparing: ask again
        return _out(ctx, view, "OK", frozenset({"PowerDeliveryReq", "SessionStopReq"}))
    dc = ctx.service in ("DC", "DC_BPT")
    progress = req.ChargeProgress
    end_phases(ctx)  # cable check / precharge are over, a welding check is still to come
    if progress == "Start":
        code = _check_profile(ctx, req.EVPowerProfile)
        if code != "OK":
            return _failed(ctx, view, code)
        if req.BPT_ChannelSelection == "Discharge" and not view.may_discharge:
            return _failed(ctx, view, "FAILED_PowerDeliveryNotApplied")  # OCPP Q01
        ctx.energy_transfer = True
        nxt = frozenset({_loop(ctx), "PowerDeliveryReq", "SessionStopReq"})
        return _out(ctx, view, "OK", nxt, (EnergyTransfer(start=True),))
    if progress == "Stop":
        ctx.energy_transfer = False
        actions: tuple[Action, ...] = (EnergyTransfer(start=False),)
        if dc:  # current to zero; the welding check follows
            actions += (DcCommand("off"),)
            nxt = frozenset({"DC_WeldingDetectionReq", "SessionStopReq"})
        else:
            nxt = frozenset({"SessionStopReq"})
        return _out(ctx, view, "OK", nxt, actions)
    if progress == "Standby":  # no power, the way stays ready; the loop goes on
        ctx.energy_transfer = True
        nxt = frozenset({_loop(ctx), "PowerDeliveryReq", "SessionStopReq"})
        return _out(ctx, view, "OK", nxt, (EnergyTransfer(start=False, standby=True),))
    # ScheduleRenegotiation: only from the loop; the transfer goes on meanwhile
    if not ctx.energy_transfer:
        return _failed(ctx, view, "FAILED_SequenceError")
    return _out(ctx, view, "OK", frozenset({"ScheduleExchangeReq", "SessionStopReq"}))
