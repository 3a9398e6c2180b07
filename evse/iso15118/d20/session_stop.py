"""SessionStopReq (ISO 15118-20).

- Terminate: the session ends.
- Pause: the context is kept (`ctx.paused`); the dispatcher stores it so a car that
  comes back with the old SessionID resumes at ChargeParameterDiscovery. Nothing to
  resume before a service is selected -> FAILED_PauseNotAllowed.
- ServiceRenegotiation: back to ServiceDiscovery ([V2G20-1477]), or
  FAILED_NoServiceRenegotiationSupported when this SECC does not offer it.
Power stops in every case (safety first: the car should have sent PowerDelivery Stop).
"""

from __future__ import annotations

from typing import Literal

from evse.iso15118.d20.types import (
    Action,
    EnergyTransfer,
    Outcome,
    SessionContext,
    SessionEnded,
    StationView,
    header,
)
from evse.iso15118.exi._generated.common_types import SessionStopReqType, SessionStopResType

REQUEST = "SessionStopReq"


def handle(req: SessionStopReqType, ctx: SessionContext, view: StationView, now: float) -> Outcome:
    actions: list[Action] = []
    if ctx.energy_transfer:
        ctx.energy_transfer = False
        actions.append(EnergyTransfer(start=False))
    code: Literal["OK", "FAILED_NoServiceRenegotiationSupported", "FAILED_PauseNotAllowed"] = "OK"
    nxt: frozenset[str] = frozenset()
    if req.ChargingSession == "ServiceRenegotiation":
        if ctx.config.service_renegotiation:
            nxt = frozenset({"ServiceDiscoveryReq", "SessionStopReq"})
        else:
            code = "FAILED_NoServiceRenegotiationSupported"
            actions.append(SessionEnded("renegotiation_not_supported"))
    elif req.ChargingSession == "Pause":
        if ctx.service is None:
            code = "FAILED_PauseNotAllowed"
            actions.append(SessionEnded("pause_not_allowed"))
        else:
            ctx.paused = True
            actions.append(SessionEnded("pause", paused=True))
    else:
        actions.append(SessionEnded("terminate"))
    res = SessionStopResType(Header=header(ctx, view), ResponseCode=code)
    return Outcome("SessionStopRes", res, "common", nxt, tuple(actions))
