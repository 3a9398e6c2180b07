"""What the SECC offers: energy services for ServiceDiscovery and their parameter sets
for ServiceDetail / ServiceSelection (ISO 15118-20 clause 8.4.3, Tables 204-209).

One parameter set per control mode, its ID the control mode's ID (Scheduled 1,
Dynamic 2), so ServiceSelection can check a (service, set) pair without remembering
what ServiceDetail said.
"""

from __future__ import annotations

from dataclasses import dataclass

from evse.iso15118.d20.types import (
    CONTROL_MODE_IDS,
    SERVICE_IDS,
    ControlMode,
    Namespace,
    SeccConfig,
    ServiceName,
)
from evse.iso15118.exi._generated.common_types import ParameterSetType, ParameterType

# -20 Table 204 energy transfer service IDs (all of them, offered or not): a selection
# of any other ID is not an energy transfer service at all.
ENERGY_SERVICE_IDS = frozenset(range(1, 12))

_AC_CONNECTOR = {1: 1, 3: 2}  # phases -> Connector (1 SinglePhase, 2 ThreePhase)
_DC_CONNECTOR_EXTENDED = 2  # CCS: Core 1, Extended 2, Dual2 3, Dual4 4
_MOBILITY_NEEDS_BY_EVCC = 1  # 1 ProvidedByEvcc, 2 ProvidedBySecc
_NO_PRICING = 0  # 0 NoPricing, 1 AbsolutePricing, 2 PriceLevels
_BPT_UNIFIED = 1  # BPTChannel: 1 Unified, 2 Separated
_GRID_FOLLOWING = 1  # GeneratorMode: 1 GridFollowing, 2 GridForming
_ISLANDING_PASSIVE = 2  # GridCodeIslandingDetectionMethod: 1 Active, 2 Passive


@dataclass(frozen=True, slots=True)
class Selection:
    service: ServiceName
    control_mode: ControlMode
    parameter_set_id: int


def service_name(service_id: int) -> ServiceName | None:
    for name, sid in SERVICE_IDS.items():
        if sid == service_id:
            return name
    return None


def energy_namespace(service: ServiceName) -> Namespace:
    return "ac" if service.startswith("AC") else "dc"


def offered_services(
    config: SeccConfig, namespace: Namespace, may_discharge: bool
) -> tuple[ServiceName, ...]:
    """Configured services that fit the negotiated namespace; BPT only when OCPP Q01's
    allowed energy transfer includes discharging (view.may_discharge)."""
    return tuple(
        s
        for s in config.services
        if energy_namespace(s) == namespace and (may_discharge or not s.endswith("_BPT"))
    )


def parameter_sets(config: SeccConfig, service: ServiceName) -> list[ParameterSetType]:
    return [
        ParameterSetType(
            ParameterSetID=CONTROL_MODE_IDS[mode], Parameter=_params(config, service, mode)
        )
        for mode in config.control_modes
    ]


def select(
    config: SeccConfig, offered: tuple[ServiceName, ...], service_id: int, set_id: int
) -> Selection | None:
    """The (service, parameter set) pair if this SECC offered it."""
    name = service_name(service_id)
    if name is None or name not in offered:
        return None
    for mode in config.control_modes:
        if CONTROL_MODE_IDS[mode] == set_id:
            return Selection(name, mode, set_id)
    return None


def _int(name: str, value: int) -> ParameterType:
    return ParameterType(Name=name, intValue=value)


def _params(config: SeccConfig, service: ServiceName, mode: ControlMode) -> list[ParameterType]:
    limits = config.limits
    if energy_namespace(service) == "ac":
        connector = _AC_CONNECTOR.get(limits.phases, 2)
    else:
        connector = _DC_CONNECTOR_EXTENDED
    out = [
        _int("Connector", connector),
        _int("ControlMode", CONTROL_MODE_IDS[mode]),
    ]
    if energy_namespace(service) == "ac":
        out.append(_int("EVSENominalVoltage", round(limits.nominal_v)))
    out += [_int("MobilityNeedsMode", _MOBILITY_NEEDS_BY_EVCC), _int("Pricing", _NO_PRICING)]
    if service.endswith("_BPT"):  # -20 Table 206 / 208: the BPT parameters
        out += [_int("BPTChannel", _BPT_UNIFIED), _int("GeneratorMode", _GRID_FOLLOWING)]
        if service == "AC_BPT":
            out.append(_int("GridCodeIslandingDetectionMethod", _ISLANDING_PASSIVE))
    return out
