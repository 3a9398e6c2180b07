"""ServiceDiscoveryReq (ISO 15118-20): the energy transfer services this
EVSE offers on the negotiated namespace; BPT only while OCPP Q01 allows discharging.
No value-added services. Also the first request after SessionStop(ServiceRenegotiation).
"""

from __future__ import annotations

from evse.iso15118.d20.service_params import offered_services
from evse.iso15118.d20.types import SERVICE_IDS, Outcome, SessionContext, StationView, header
from evse.iso15118.exi._generated.common_types import (
    ServiceDiscoveryReqType,
    ServiceDiscoveryResType,
    ServiceListType,
    ServiceType,
)

REQUEST = "ServiceDiscoveryReq"

_MAX_SERVICES = 8  # ServiceList maxOccurs


def handle(
    req: ServiceDiscoveryReqType, ctx: SessionContext, view: StationView, now: float
) -> Outcome:
    offered = offered_services(ctx.config, ctx.namespace, view.may_discharge)
    if req.SupportedServiceIDs is not None:  # the car names what it can use
        wanted = set(req.SupportedServiceIDs.ServiceID)
        offered = tuple(s for s in offered if SERVICE_IDS[s] in wanted)
    offered = offered[:_MAX_SERVICES]
    ctx.offered_services = offered
    services = [ServiceType(ServiceID=SERVICE_IDS[s], FreeService=False) for s in offered]
    if not services:
        # Nothing to offer (e.g. only BPT configured and discharge not allowed): the
        # list may not be empty, so a placeholder entry goes with FAILED, and the
        # session ends.
        res = ServiceDiscoveryResType(
            Header=header(ctx, view),
            ResponseCode="FAILED",
            ServiceRenegotiationSupported=False,
            EnergyTransferServiceList=ServiceListType(
                Service=[ServiceType(ServiceID=1, FreeService=False)]
            ),
        )
        return Outcome("ServiceDiscoveryRes", res, "common", frozenset())
    res = ServiceDiscoveryResType(
        Header=header(ctx, view),
        ResponseCode="OK",
        ServiceRenegotiationSupported=ctx.config.service_renegotiation,
        EnergyTransferServiceList=ServiceListType(Service=services),
    )
    nxt = frozenset({"ServiceDetailReq", "ServiceSelectionReq", "SessionStopReq"})
    return Outcome("ServiceDiscoveryRes", res, "common", nxt)
