"""The car's needs as the -20 session learnt them (d20 `EvNeeds` action, after
ChargeParameterDiscovery / ScheduleExchange) turned into the OCPP input of
NotifyEVChargingNeeds (K15/K17 2.1, Q01/Q02): `evse.station.ev_needs.EvNeeds`.

-20 services map to EnergyTransferModeEnumType: AC -> AC_single_phase, AC_two_phase or
AC_three_phase by the unit's phases, AC_BPT, DC, DC_BPT; every -20 session is reported with
v2xChargingParameters (the 2.1 text: "ISO 15118-20 (also for charging only)").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from evse.iso15118.d20.types import EvNeeds as IsoNeeds
from evse.station.ev_needs import EvNeeds, V2xParameters

_CONTROL_MODE = {"Scheduled": "ScheduledControl", "Dynamic": "DynamicControl"}


def transfer_mode(service: str, phases: int) -> str:
    if service == "AC":
        return {1: "AC_single_phase", 2: "AC_two_phase"}.get(phases, "AC_three_phase")
    return service  # AC_BPT, DC, DC_BPT are OCPP's names too


def ocpp_needs(a: IsoNeeds, offered: tuple[str, ...], phases: int, now: datetime) -> EvNeeds:
    """`offered`: the -20 services this EVSE offered the car (availableEnergyTransfer)."""
    lim = a.limits
    v2x = V2xParameters(
        min_charge_power_w=lim.min_charge_w or None,
        max_charge_power_w=lim.max_charge_w,
        min_discharge_power_w=lim.min_discharge_w or None,
        max_discharge_power_w=lim.max_discharge_w or None,
        max_charge_current_a=lim.max_charge_a,
        max_discharge_current_a=lim.max_discharge_a,
        min_voltage_v=lim.min_v,
        max_voltage_v=lim.max_v,
        ev_target_energy_request_wh=a.target_energy_wh,
        ev_min_energy_request_wh=a.min_energy_wh,
        ev_max_energy_request_wh=a.max_energy_wh,
        target_soc=a.target_soc,
    )
    departure = now + timedelta(seconds=a.departure_time_s) if a.departure_time_s else None
    return EvNeeds(
        requested_energy_transfer=transfer_mode(a.service, phases),
        available_energy_transfer=tuple(transfer_mode(s, phases) for s in offered),
        control_mode=_CONTROL_MODE.get(a.control_mode),
        departure_time=departure,
        v2x_charging_parameters=v2x,
        received_at=now,
    )
