"""ServiceSelectionReq (ISO 15118-20).

- the selected ID is not an energy transfer service this SECC offered in
  ServiceDiscoveryRes -> FAILED_NoEnergyTransferServiceSelected;
- the parameter set was not offered for it, or a value-added service is selected (none
  are offered) -> FAILED_ServiceSelectionInvalid.
Either ends the session. OK -> the ChargeParameterDiscovery of the service's namespace.
"""

from __future__ import annotations

from typing import Literal

from evse.iso15118.d20.service_params import energy_namespace, select, service_name
from evse.iso15118.d20.session_setup import cpd_request
from evse.iso15118.d20.types import Outcome, SessionContext, StationView, header
from evse.iso15118.exi._generated.common_types import (
    ServiceSelectionReqType,
    ServiceSelectionResType,
)

REQUEST = "ServiceSelectionReq"


def _failed(
    ctx: SessionContext,
    view: StationView,
    code: Literal["FAILED_NoEnergyTransferServiceSelected", "FAILED_ServiceSelectionInvalid"],
) -> Outcome:
    res = ServiceSelectionResType(Header=header(ctx, view), ResponseCode=code)
    return Outcome("ServiceSelectionRes", res, "common", frozenset())


def handle(
    req: ServiceSelectionReqType, ctx: SessionContext, view: StationView, now: float
) -> Outcome:
    chosen = req.SelectedEnergyTransferService
    name = service_name(chosen.ServiceID)
    if name is None or name not in ctx.offered_services:
        return _failed(ctx, view, "FAILED_NoEnergyTransferServiceSelected")
    selection = select(ctx.config, ctx.offered_services, chosen.ServiceID, chosen.ParameterSetID)
    if selection is None or req.SelectedVASList is not None:
        return _failed(ctx, view, "FAILED_ServiceSelectionInvalid")
    ctx.service = selection.service
    ctx.control_mode = selection.control_mode
    ctx.parameter_set_id = selection.parameter_set_id
    ctx.namespace = energy_namespace(selection.service)
    res = ServiceSelectionResType(Header=header(ctx, view), ResponseCode="OK")
    return Outcome(
        "ServiceSelectionRes", res, "common", frozenset({cpd_request(ctx), "SessionStopReq"})
    )
