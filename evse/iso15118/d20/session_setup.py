"""SessionSetupReq (ISO 15118-20): a new SessionID, or the old one of a
paused session (the dispatcher hands in that session's context) -> OK_OldSessionJoined
and straight on to ChargeParameterDiscovery (-20 pause / resume: the selected service
and parameter set stay). A car that does not skip ahead and runs AuthorizationSetup again
is accepted too (the `iso15118` package's EVCC does)."""

from __future__ import annotations

from evse.iso15118.d20.types import Outcome, SessionContext, StationView, header
from evse.iso15118.exi._generated.common_types import SessionSetupReqType, SessionSetupResType

REQUEST = "SessionSetupReq"

ZERO_ID = b"\x00" * 8


def cpd_request(ctx: SessionContext) -> str:
    """The ChargeParameterDiscovery request of the selected service's namespace."""
    prefix = "AC" if ctx.service in ("AC", "AC_BPT") else "DC"
    return f"{prefix}_ChargeParameterDiscoveryReq"


def handle(req: SessionSetupReqType, ctx: SessionContext, view: StationView, now: float) -> Outcome:
    ctx.evccid = req.EVCCID
    if ctx.paused and req.Header.SessionID == ctx.session_id and ctx.service is not None:
        ctx.paused = False
        ctx.auth_started_at = None  # a car that authorizes again waits afresh
        res = SessionSetupResType(
            Header=header(ctx, view), ResponseCode="OK_OldSessionJoined", EVSEID=ctx.config.evseid
        )
        allowed = {cpd_request(ctx), "AuthorizationSetupReq", "SessionStopReq"}
        return Outcome("SessionSetupRes", res, "common", frozenset(allowed))
    new_id = ctx.random_bytes(8)
    while new_id == ZERO_ID or new_id == req.Header.SessionID:
        new_id = ctx.random_bytes(8)
    ctx.session_id = new_id
    res = SessionSetupResType(
        Header=header(ctx, view), ResponseCode="OK_NewSessionEstablished", EVSEID=ctx.config.evseid
    )
    return Outcome(
        "SessionSetupRes", res, "common", frozenset({"AuthorizationSetupReq", "SessionStopReq"})
    )
