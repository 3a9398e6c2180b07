"""AuthorizationReq (ISO 15118-20), EIM.

The first request asks the station to authorize (StartAuthorization, once); while OCPP
has not answered, EVSEProcessing = Ongoing and the car repeats the request. The wait is
bounded by `ongoing_timeout_s` (the car gives up after its own 60 s ongoing timer):
then FAILED and the session ends. A rejected id gives WARNING_EIMAuthorizationFailure
with Finished ([V2G20-2230]); the car may only stop then. A PnC selection was not
offered: WARNING_AuthorizationSelectionInvalid ([V2G20-2226]), the car may retry EIM.
"""

from __future__ import annotations

from typing import Literal

from evse.iso15118.d20.types import (
    Action,
    Outcome,
    SessionContext,
    SessionEnded,
    StartAuthorization,
    StationView,
    header,
)
from evse.iso15118.exi._generated.common_types import AuthorizationReqType, AuthorizationResType

REQUEST = "AuthorizationReq"

_AGAIN = frozenset({"AuthorizationReq", "SessionStopReq"})


_Code = Literal[
    "OK", "WARNING_AuthorizationSelectionInvalid", "WARNING_EIMAuthorizationFailure", "FAILED"
]


def _res(
    ctx: SessionContext, view: StationView, code: _Code, processing: Literal["Finished", "Ongoing"]
) -> AuthorizationResType:
    return AuthorizationResType(
        Header=header(ctx, view), ResponseCode=code, EVSEProcessing=processing
    )


def handle(
    req: AuthorizationReqType, ctx: SessionContext, view: StationView, now: float
) -> Outcome:
    if req.SelectedAuthorizationService != "EIM":
        res = _res(ctx, view, "WARNING_AuthorizationSelectionInvalid", "Finished")
        return Outcome("AuthorizationRes", res, "common", _AGAIN)
    actions: list[Action] = []
    if ctx.auth_started_at is None:
        ctx.auth_started_at = now
        if view.authorization != "accepted":
            actions.append(StartAuthorization("EIM"))
    if view.authorization == "accepted":
        res = _res(ctx, view, "OK", "Finished")
        nxt = frozenset({"ServiceDiscoveryReq", "SessionStopReq"})
        return Outcome("AuthorizationRes", res, "common", nxt, tuple(actions))
    if view.authorization == "rejected":
        res = _res(ctx, view, "WARNING_EIMAuthorizationFailure", "Finished")
        return Outcome(
            "AuthorizationRes", res, "common", frozenset({"SessionStopReq"}), tuple(actions)
        )
    if now - ctx.auth_started_at >= ctx.config.ongoing_timeout_s:
        res = _res(ctx, view, "FAILED", "Finished")
        actions.append(SessionEnded("authorization_timeout"))
        return Outcome("AuthorizationRes", res, "common", frozenset(), tuple(actions))
    res = _res(ctx, view, "OK", "Ongoing")
    return Outcome("AuthorizationRes", res, "common", _AGAIN, tuple(actions))
