"""The SECC's `EvNeeds` action (-20 ChargeParameterDiscovery / ScheduleExchange) as the
input of OCPP 2.1 NotifyEVChargingNeeds (`evse/station/ev_needs.py`): -20 is always
V2XChargingParametersType, whether the service is BPT or not."""

from __future__ import annotations

import datetime

from evse.iso15118.d20 import types as d20
from evse.station.ev_needs import EvNeeds, V2xParameters

_MODE = {"Scheduled": "ScheduledControl", "Dynamic": "DynamicControl"}


def transfer_mode(service: d20.ServiceName, phases: int) -> str:
    """EnergyTransferModeEnumType of the selected -20 service."""
    if service == "AC":
        return {1: "AC_single_phase", 2: "AC_two_phase"}.get(phases, "AC_three_phase")
    return service  # DC, AC_BPT, DC_BPT: the same names


def ocpp_needs(a: d20.EvNeeds, phases: int, now: datetime.datetime) -> EvNeeds:
    lim = a.limits
    bpt = a.service.endswith("_BPT")
    v2x = V2xParameters(
        min_charge_power_w=lim.min_charge_w,
        max_charge_power_w=lim.max_charge_w,
        min_discharge_power_w=lim.min_discharge_w if bpt else None,
        max_discharge_power_w=lim.max_discharge_w if bpt else None,
        max_charge_current_a=lim.max_charge_a,
        max_discharge_current_a=lim.max_discharge_a if bpt else None,
        min_voltage_v=lim.min_v,
        max_voltage_v=lim.max_v,
        ev_target_energy_request_wh=a.target_energy_wh,
        ev_min_energy_request_wh=a.min_energy_wh,
        ev_max_energy_request_wh=a.max_energy_wh,
        target_soc=a.target_soc,
    )
    departure = None
    if a.departure_time_s is not None:
        departure = now + datetime.timedelta(seconds=a.departure_time_s)
    return EvNeeds(
        requested_energy_transfer=transfer_mode(a.service, phases),
        control_mode=_MODE[a.control_mode],
        departure_time=departure,
        v2x_charging_parameters=v2x,
        received_at=now,
    )
