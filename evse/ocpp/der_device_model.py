"""R01 / R02 device model: the DCDERCtrlr / ACDERCtrlr nameplate values of each EVSE,
from the unit ratings the station is configured with ([[evse]] and [grid] of the station
config, the same ones hal runs with), so NotifyReport tells the CSMS what the unit is.

Which variables: the reference names DCDERCtrlr Available, Enabled, ModesSupported,
Inverter*, MaxW, MaxVA, MaxVar, MaxVarNeg, MaxChargeRateW, ...; the Part 2 appendix
extract at hand does not list the rest, so the nameplate kinds are those of the 2.1
DERChargingParametersType (over/under-excited discharge power and power factor,
nominal voltage and offset, islanding detection), station side (device_model.toml).

How the numbers follow from the ratings (our choice, stated here):
- MaxW: the rated discharge (the DER's active power output); MaxChargeRateW /
  MaxDischargeRateW: the rated charge / discharge; MaxVA: the larger of the two;
  MaxVar / MaxVarNeg: the rated reactive power, both directions (hal executes +-max_var).
- Over/UnderExcitedMaxDischargePower: the discharge possible while giving the rated
  reactive power, sqrt(MaxVA^2 - MaxVar^2) capped at MaxW; the power factors are that
  power over MaxVA.
- NominalVoltage / NominalFrequency: [grid]; IslandingDetectionMethod of DCDERCtrlr:
  UVP_OVP,UFP_OFP (hal's must-trip protection; the default of the toml).
An AC EVSE's ACDERCtrlr gets the EVSE-side limits (the car's inverter is not known
before the SECC session; the SECC narrows them to min(EV, EVSE)).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from evse.ocpp.device_model import DeviceModel


@dataclass(frozen=True, slots=True)
class UnitRating:
    evse_id: int
    kind: str  # "ac" | "dc"
    max_charge_w: float
    max_discharge_w: float
    max_var: float
    nominal_voltage_v: float
    nominal_frequency_hz: float


def nameplate(u: UnitRating) -> dict[str, float]:
    """The rating variables of one EVSE's DER controller (see the module docstring)."""
    va = max(u.max_charge_w, u.max_discharge_w)
    var = min(u.max_var, va)
    with_var = min(math.sqrt(max(va * va - var * var, 0.0)), u.max_discharge_w)
    pf = with_var / va if va > 0 else 1.0
    return {
        "MaxW": u.max_discharge_w,
        "MaxVA": va,
        "MaxVar": u.max_var,
        "MaxVarNeg": u.max_var,
        "MaxChargeRateW": u.max_charge_w,
        "MaxDischargeRateW": u.max_discharge_w,
        "OverExcitedMaxDischargePower": with_var,
        "OverExcitedPowerFactor": round(pf, 4),
        "UnderExcitedMaxDischargePower": with_var,
        "UnderExcitedPowerFactor": round(pf, 4),
        "NominalVoltage": u.nominal_voltage_v,
        "NominalFrequency": u.nominal_frequency_hz,
    }


# An AC EVSE has no inverter of its own: the car's does the power conversion. The station
# still measures the grid, trips and ceases through its contactor (hal), and reaches the
# car's active power through the targets of every ChargeLoopRes (hal's constraint caps
# them), so these control types it executes. Reactive-power functions (VoltVar, WattVar,
# WattPF, FixedPF*, FixedVar) only the car's inverter could execute, through the
# ISO 15118-20 Amendment 1 AC_DER services our SECC does not speak: NotSupported
# (R04.FR.01) for an AC EVSE.
AC_STATION_MODES = (
    "EnterService",
    "FreqDroop",
    "FreqWatt",
    "Gradients",
    "HFMayTrip",
    "HFMustTrip",
    "HVMayTrip",
    "HVMomCess",
    "HVMustTrip",
    "LFMustTrip",
    "LVMayTrip",
    "LVMomCess",
    "LVMustTrip",
    "LimitMaxDischarge",
    "PowerMonitoringMustTrip",
    "VoltWatt",
)


def apply_ratings(dm: DeviceModel, units: Iterable[UnitRating]) -> None:
    """Write each configured unit's nameplate into its DER controller component (the
    station owns these ReadOnly values; not persisted: the config is the source). The
    controller of the other kind is switched off for that EVSE, so ModesSupported
    (R04.FR.01) is what this EVSE's hardware can execute."""
    for u in units:
        component = "DCDERCtrlr" if u.kind == "dc" else "ACDERCtrlr"
        other = "ACDERCtrlr" if u.kind == "dc" else "DCDERCtrlr"
        for name, value in nameplate(u).items():
            slot = dm.find(component, name, u.evse_id)
            if slot is not None:
                dm.set_internal(slot, _decimal(value))
        for name, text in (("Available", "false"), ("Enabled", "false"), ("ModesSupported", "")):
            slot = dm.find(other, name, u.evse_id)
            if slot is not None:
                dm.set_internal(slot, text)
        if u.kind != "dc":
            for name, text in (
                ("Available", "true"),
                ("Enabled", "true"),
                ("ModesSupported", ",".join(AC_STATION_MODES)),
            ):
                slot = dm.find("ACDERCtrlr", name, u.evse_id)
                if slot is not None:
                    dm.set_internal(slot, text)


def _decimal(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(round(value, 4))
