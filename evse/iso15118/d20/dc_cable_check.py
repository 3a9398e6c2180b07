"""DC_CableCheckReq: the isolation check before any voltage goes to the car.

The first request asks the stage to check (DcCommand cable_check) and is always Ongoing:
a result in the snapshot taken before we asked may be an old one. Later requests answer
from hal's latest isolation result: valid or warning -> Finished (IEC 61851-23 allows
charging with a warning); fault -> FAILED and the stage off; unknown / ongoing ->
Ongoing, bounded by SeccConfig.cable_check_s, then FAILED and the stage off.
"""

from __future__ import annotations

from evse.iso15118.d20.power_common import Code, session_ok
from evse.iso15118.d20.types import DcCommand, Outcome, SessionContext, StationView, header
from evse.iso15118.exi._generated.dc_types import DC_CableCheckReqType, DC_CableCheckResType

REQUEST = "DC_CableCheckReq"
RESPONSE = "DC_CableCheckRes"
_STARTED = "cable_check_started_at"
_AGAIN = frozenset({"DC_CableCheckReq", "SessionStopReq"})
_DONE = frozenset({"DC_PreChargeReq", "SessionStopReq"})


def _failed(ctx: SessionContext, view: StationView, code: Code) -> Outcome:
    ctx.extra.pop(_STARTED, None)
    res = DC_CableCheckResType(Header=header(ctx, view), ResponseCode=code,
                               EVSEProcessing="Finished")
    return Outcome(RESPONSE, res, "dc", frozenset(), (DcCommand("off"),))


def _answer(ctx: SessionContext, view: StationView, done: bool) -> Outcome:
    res = DC_CableCheckResType(Header=header(ctx, view), ResponseCode="OK",
                               EVSEProcessing="Finished" if done else "Ongoing")
    return Outcome(RESPONSE, res, "dc", _DONE if done else _AGAIN)


def handle(req: DC_CableCheckReqType, ctx: SessionContext, view: StationView,
           now: float) -> Outcome:
    if not session_ok(req, ctx):
        return _failed(ctx, view, "FAILED_UnknownSession")
    if _STARTED not in ctx.extra:
        ctx.extra[_STARTED] = now
        ctx.phase_started_at = now
        out = _answer(ctx, view, done=False)
        return Outcome(out.response_name, out.response, out.namespace, out.next,
                       (DcCommand("cable_check"),))
    isolation = view.dc.isolation if view.dc is not None else "unknown"
    if isolation == "fault":  # IEC 61851-23 insulation fault: no energy transfer
        return _failed(ctx, view, "FAILED")
    if isolation in ("valid", "warning"):
        ctx.extra.pop(_STARTED, None)
        return _answer(ctx, view, done=True)
    if now - float(ctx.extra[_STARTED]) > ctx.config.cable_check_s:
        return _failed(ctx, view, "FAILED")
    return _answer(ctx, view, done=False)
