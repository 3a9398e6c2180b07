"""What the EV said it needs, as plain data: the input of NotifyEVChargingNeeds (OCPP 2.1
K15/K17, Q01/Q02), filled by the ISO 15118 SECC after ChargeParameterDiscovery.

No protocol here: the fields mirror the 2.1 ChargingNeedsType (NotifyEVChargingNeeds
schema), in snake_case with the unit in the name where the schema has one (W, A, V,
Wh, percent). The OCPP block (evse/ocpp/ev_charging_needs.py) turns them into the
camelCase message and checks them against the schema: a value the schema refuses is a
ValueError at the call, before anything is queued.

Use: `OcppStation.notify_ev_charging_needs(evse_id, EvNeeds(...))`; the answer of the
CSMS (Accepted / Processing / Rejected / NoChargingProfile) can be read afterwards from
`OcppStation.smart.needs.answer(evse_id)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AcParameters:
    """ACChargingParametersType: ISO 15118-2 AC (all four are required there)."""

    energy_amount_wh: float  # energy the EV asks for
    ev_min_current_a: float  # per phase
    ev_max_current_a: float  # per phase
    ev_max_voltage_v: float


@dataclass(frozen=True, slots=True)
class DcParameters:
    """DCChargingParametersType: ISO 15118-2 DC / CHAdeMO / GB/T."""

    ev_max_current_a: float
    ev_max_voltage_v: float
    ev_max_power_w: float | None = None
    ev_energy_capacity_wh: float | None = None
    energy_amount_wh: float | None = None
    state_of_charge: int | None = None  # percent
    full_soc: int | None = None  # percent
    bulk_soc: int | None = None  # percent


@dataclass(frozen=True, slots=True)
class V2xParameters:
    """V2XChargingParametersType: ISO 15118-20 (also for charging only, e.g. AC/DC
    without BPT). Every field optional; _l2 / _l3 are the values of phases L2 / L3 when
    they differ from L1. Powers in W (discharge powers positive), currents in A,
    voltages in V, energies in Wh (the V2X ones may be negative: energy the EV gives)."""

    min_charge_power_w: float | None = None
    min_charge_power_l2_w: float | None = None
    min_charge_power_l3_w: float | None = None
    max_charge_power_w: float | None = None
    max_charge_power_l2_w: float | None = None
    max_charge_power_l3_w: float | None = None
    min_discharge_power_w: float | None = None
    min_discharge_power_l2_w: float | None = None
    min_discharge_power_l3_w: float | None = None
    max_discharge_power_w: float | None = None
    max_discharge_power_l2_w: float | None = None
    max_discharge_power_l3_w: float | None = None
    min_charge_current_a: float | None = None
    max_charge_current_a: float | None = None
    min_discharge_current_a: float | None = None
    max_discharge_current_a: float | None = None
    min_voltage_v: float | None = None
    max_voltage_v: float | None = None
    ev_target_energy_request_wh: float | None = None
    ev_min_energy_request_wh: float | None = None
    ev_max_energy_request_wh: float | None = None
    ev_min_v2x_energy_request_wh: float | None = None
    ev_max_v2x_energy_request_wh: float | None = None
    target_soc: int | None = None  # percent


@dataclass(frozen=True, slots=True)
class EvNeeds:
    """ChargingNeedsType, plus maxScheduleTuples and the time the needs arrived.

    requested_energy_transfer / available_energy_transfer: EnergyTransferModeEnumType
    values (AC_single_phase, AC_two_phase, AC_three_phase, DC, AC_BPT, AC_BPT_DER,
    AC_DER, DC_BPT, DC_ACDP, DC_ACDP_BPT, WPT); control_mode: ScheduledControl or
    DynamicControl; mobility_needs_mode: EVCC or EVCC_SECC. ev_energy_offer and
    der_charging_parameters are passed through as the schema's camelCase objects
    (EVEnergyOfferType, DERChargingParametersType)."""

    requested_energy_transfer: str
    available_energy_transfer: tuple[str, ...] = ()
    control_mode: str | None = None
    mobility_needs_mode: str | None = None
    departure_time: datetime | None = None  # aware
    ac_charging_parameters: AcParameters | None = None
    dc_charging_parameters: DcParameters | None = None
    v2x_charging_parameters: V2xParameters | None = None
    ev_energy_offer: Mapping[str, Any] | None = None
    der_charging_parameters: Mapping[str, Any] | None = None
    max_schedule_tuples: int | None = None
    received_at: datetime | None = None  # when the EV said it (None: at the call)
