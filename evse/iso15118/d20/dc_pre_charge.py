"""DC_PreChargeReq: bring the output to the car's battery voltage before its contactors
close.

Each request whose target differs from the last asks the stage to precharge to it
(DcCommand precharge); the answer is hal's latest output voltage, never a wait. The car
decides when it is close enough (EVProcessing Finished, or a PowerDeliveryReq). A target
outside our voltage range: FAILED_WrongChargeParameter. Bounded by
SeccConfig.precharge_s from the first request, then FAILED. Failures turn the stage off.
"""

from __future__ import annotations

from evse.iso15118.d20.power_common import Code, fl, rn, session_ok
from evse.iso15118.d20.types import DcCommand, Outcome, SessionContext, StationView, header
from evse.iso15118.exi._generated.dc_types import DC_PreChargeReqType, DC_PreChargeResType

REQUEST = "DC_PreChargeReq"
RESPONSE = "DC_PreChargeRes"
_STARTED = "precharge_started_at"
_TARGET = "precharge_target_v"


def present_v(view: StationView) -> float:
    if view.dc is not None and view.dc.present_v is not None:
        return view.dc.present_v
    return view.present_v or 0.0


def _failed(ctx: SessionContext, view: StationView, code: Code) -> Outcome:
    ctx.extra.pop(_STARTED, None)
    ctx.extra.pop(_TARGET, None)
    res = DC_PreChargeResType(Header=header(ctx, view), ResponseCode=code,
                              EVSEPresentVoltage=rn(present_v(view)))
    return Outcome(RESPONSE, res, "dc", frozenset(), (DcCommand("off"),))


def handle(req: DC_PreChargeReqType, ctx: SessionContext, view: StationView,
           now: float) -> Outcome:
    if not session_ok(req, ctx):
        return _failed(ctx, view, "FAILED_UnknownSession")
    target = fl(req.EVTargetVoltage) or 0.0
    lim = ctx.config.limits
    ev_max = ctx.ev.max_v if ctx.ev is not None else None
    if target < 0 or (lim.max_v > 0 and target > lim.max_v) or (
        ev_max is not None and target > ev_max
    ):
        return _failed(ctx, view, "FAILED_WrongChargeParameter")
    started = float(ctx.extra.setdefault(_STARTED, now))
    if now - started > ctx.config.precharge_s:
        return _failed(ctx, view, "FAILED")
    actions: tuple[DcCommand, ...] = ()
    if ctx.extra.get(_TARGET) != target:
        ctx.extra[_TARGET] = target
        actions = (DcCommand("precharge", target_v=target, target_a=0.0),)
    res = DC_PreChargeResType(Header=header(ctx, view), ResponseCode="OK",
                              EVSEPresentVoltage=rn(present_v(view)))
    if req.EVProcessing == "Finished":
        ctx.extra.pop(_STARTED, None)
        nxt = frozenset({"PowerDeliveryReq", "SessionStopReq"})
    else:
        nxt = frozenset({"DC_PreChargeReq", "PowerDeliveryReq", "SessionStopReq"})
    return Outcome(RESPONSE, res, "dc", nxt, actions)
