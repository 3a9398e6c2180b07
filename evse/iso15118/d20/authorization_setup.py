"""AuthorizationSetupReq (ISO 15118-20): EIM only. Plug & Charge is not
offered yet (no contract certificate handling), so AuthorizationServices = [EIM], no
certificate installation, and the EIM mode element ([V2G20-2567/2568])."""

from __future__ import annotations

from evse.iso15118.d20.types import Outcome, SessionContext, StationView, header
from evse.iso15118.exi._generated.common_types import (
    AuthorizationSetupReqType,
    AuthorizationSetupResType,
    EIM_ASResAuthorizationModeType,
)

REQUEST = "AuthorizationSetupReq"


def handle(
    req: AuthorizationSetupReqType, ctx: SessionContext, view: StationView, now: float
) -> Outcome:
    res = AuthorizationSetupResType(
        Header=header(ctx, view),
        ResponseCode="OK",
        AuthorizationServices=["EIM"],
        CertificateInstallationService=False,
        EIM_ASResAuthorizationMode=EIM_ASResAuthorizationModeType(),
    )
    return Outcome(
        "AuthorizationSetupRes", res, "common", frozenset({"AuthorizationReq", "SessionStopReq"})
    )
