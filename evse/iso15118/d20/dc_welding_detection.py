"""DC_WeldingDetectionReq: after PowerDelivery(Stop) the car checks its contactors by
the voltage we measure at the output.

The first request asks the stage to measure (DcCommand welding_check); every answer is
hal's latest welding / output voltage. The car says when it is done (EVProcessing
Finished); then only SessionStopReq may follow.
"""

from __future__ import annotations

from evse.iso15118.d20.dc_pre_charge import present_v
from evse.iso15118.d20.power_common import rn, session_ok
from evse.iso15118.d20.types import DcCommand, Outcome, SessionContext, StationView, header
from evse.iso15118.exi._generated.dc_types import (
    DC_WeldingDetectionReqType,
    DC_WeldingDetectionResType,
)

REQUEST = "DC_WeldingDetectionReq"
RESPONSE = "DC_WeldingDetectionRes"
_ASKED = "welding_check_asked"


def handle(req: DC_WeldingDetectionReqType, ctx: SessionContext, view: StationView,
           now: float) -> Outcome:
    welding = view.dc.welding_v if view.dc is not None else None
    volts = rn(welding if welding is not None else present_v(view))
    if not session_ok(req, ctx):
        res = DC_WeldingDetectionResType(Header=header(ctx, view),
                                         ResponseCode="FAILED_UnknownSession",
                                         EVSEPresentVoltage=volts)
        return Outcome(RESPONSE, res, "dc", frozenset(), (DcCommand("off"),))
    actions: tuple[DcCommand, ...] = ()
    if not ctx.extra.get(_ASKED):
        ctx.extra[_ASKED] = True
        actions = (DcCommand("welding_check"),)
    res = DC_WeldingDetectionResType(Header=header(ctx, view), ResponseCode="OK",
                                     EVSEPresentVoltage=volts)
    if req.EVProcessing == "Finished":
        ctx.extra.pop(_ASKED, None)
        return Outcome(RESPONSE, res, "dc", frozenset({"SessionStopReq"}), actions)
    return Outcome(RESPONSE, res, "dc",
                   frozenset({"DC_WeldingDetectionReq", "SessionStopReq"}), actions)
