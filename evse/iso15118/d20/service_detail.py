"""ServiceDetailReq (ISO 15118-20): the parameter sets of one offered
service. A service not offered in ServiceDiscoveryRes -> FAILED_ServiceIDInvalid
([V2G20-464]) and the session ends."""

from __future__ import annotations

from evse.iso15118.d20.service_params import parameter_sets, service_name
from evse.iso15118.d20.types import Outcome, SessionContext, StationView, header
from evse.iso15118.exi._generated.common_types import (
    ParameterSetType,
    ParameterType,
    ServiceDetailReqType,
    ServiceDetailResType,
    ServiceParameterListType,
)

REQUEST = "ServiceDetailReq"


def handle(
    req: ServiceDetailReqType, ctx: SessionContext, view: StationView, now: float
) -> Outcome:
    name = service_name(req.ServiceID)
    if name is None or name not in ctx.offered_services:
        placeholder = ParameterSetType(
            ParameterSetID=0, Parameter=[ParameterType(Name="Z", intValue=0)]
        )
        res = ServiceDetailResType(
            Header=header(ctx, view),
            ResponseCode="FAILED_ServiceIDInvalid",
            ServiceID=req.ServiceID,
            ServiceParameterList=ServiceParameterListType(ParameterSet=[placeholder]),
        )
        return Outcome("ServiceDetailRes", res, "common", frozenset())
    res = ServiceDetailResType(
        Header=header(ctx, view),
        ResponseCode="OK",
        ServiceID=req.ServiceID,
        ServiceParameterList=ServiceParameterListType(
            ParameterSet=parameter_sets(ctx.config, name)
        ),
    )
    nxt = frozenset({"ServiceDetailReq", "ServiceSelectionReq", "SessionStopReq"})
    return Outcome("ServiceDetailRes", res, "common", nxt)
