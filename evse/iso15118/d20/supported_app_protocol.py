"""supportedAppProtocolReq (ISO 15118-20 handshake): choose the -20
namespace the car offers with the highest priority (1 = highest) among those this EVSE
serves (AC namespace for AC / AC_BPT, DC for DC / DC_BPT)."""

from __future__ import annotations

from typing import Literal

from evse.iso15118.d20.service_params import energy_namespace
from evse.iso15118.d20.types import Namespace, Outcome, SessionContext, StationView
from evse.iso15118.exi._generated.app_types import (
    AppProtocolType,
    supportedAppProtocolReqType,
    supportedAppProtocolResType,
)

REQUEST = "supportedAppProtocolReq"

NAMESPACE_URNS: dict[str, Namespace] = {
    "urn:iso:std:iso:15118:-20:AC": "ac",
    "urn:iso:std:iso:15118:-20:DC": "dc",
}
VERSION_MAJOR = 1
VERSION_MINOR = 0


def handle(
    req: supportedAppProtocolReqType, ctx: SessionContext, view: StationView, now: float
) -> Outcome:
    served = {energy_namespace(s) for s in ctx.config.services}
    candidates: list[AppProtocolType] = [
        p
        for p in req.AppProtocol
        if NAMESPACE_URNS.get(p.ProtocolNamespace) in served
        and p.VersionNumberMajor == VERSION_MAJOR  # another major version: not ours
    ]
    if not candidates:
        res = supportedAppProtocolResType(ResponseCode="Failed_NoNegotiation")
        return Outcome("supportedAppProtocolRes", res, "app", frozenset())
    best = min(candidates, key=lambda p: p.Priority)
    ctx.namespace = NAMESPACE_URNS[best.ProtocolNamespace]
    code: Literal["OK_SuccessfulNegotiation", "OK_SuccessfulNegotiationWithMinorDeviation"] = (
        "OK_SuccessfulNegotiation"
        if best.VersionNumberMinor == VERSION_MINOR
        else "OK_SuccessfulNegotiationWithMinorDeviation"
    )
    res = supportedAppProtocolResType(ResponseCode=code, SchemaID=best.SchemaID)
    return Outcome("supportedAppProtocolRes", res, "app", frozenset({"SessionSetupReq"}))
