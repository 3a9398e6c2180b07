"""The executable form of every DER control, and the checks that build it.

Both sources of controls go through these builders: the grid-code preset in the
station config (settings.py) and the OCPP directives evse forwards (directives.py).
A builder raises CurveError with the reason; the caller adds where the value came
from (a config key or a directive id).

Units, chosen to match OCPP 2.1 / IEEE 2030.5 and written down once here:
voltage in percent of nominal, frequency in Hz, time in s, active power in percent of
rated (DER sign, + = inject) on curves, reactive power in percent of max var (+ = inject).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hal import der_rules as rules
from hal.grid.curves import Points
from hal.grid.enter_service import EnterServiceSpec
from hal.grid.fixed_pf import FixedPFSpec, FixedVarSpec
from hal.grid.freq_droop import FreqDroopSpec
from hal.grid.hysteresis import HysteresisSpec
from hal.grid.must_trip import Direction, StageCurve, make_stage_curve
from hal.grid.volt_var import VoltVarSpec
from hal.grid.volt_watt import WattCurveSpec


@dataclass(frozen=True, slots=True)
class MeanSpec:
    threshold_pct: float
    trip_delay_s: float


@dataclass(frozen=True, slots=True)
class TripControl:
    curve: StageCurve
    mean: MeanSpec | None = None  # VoltageParamsType.hv10MinMean*
    reactive_during_cessation: bool = False  # VoltageParamsType.powerDuringCessation


@dataclass(frozen=True, slots=True)
class GradientSpec:
    gradient_s: float  # time for a full-scale change; 0 = no limit
    soft_gradient_s: float  # enter-service ramp time when EnterService gives none


@dataclass(frozen=True, slots=True)
class LimitMaxDischargeSpec:
    pct: float | None  # of rated discharge power
    power_monitoring: StageCurve | None = None


@dataclass(frozen=True, slots=True)
class WattVarSpec:
    points: Points  # (P % rated, + inject) -> Q % max var


@dataclass(frozen=True, slots=True)
class WattPFSpec:
    points: Points  # (P % rated, + inject) -> PF, + = absorbing


Spec = (
    TripControl
    | EnterServiceSpec
    | FreqDroopSpec
    | VoltVarSpec
    | WattCurveSpec
    | FixedPFSpec
    | FixedVarSpec
    | GradientSpec
    | LimitMaxDischargeSpec
    | WattVarSpec
    | WattPFSpec
)
Controls = Mapping[str, Spec]

# The tables and value checks are the contract's (hal/der_rules.py): evse checks a
# SetDERControl with the same rules before it answers the CSMS.
TRIP_TYPES: dict[str, tuple[Direction, str]] = {
    t: (Direction(d), q) for t, (d, q) in rules.TRIP_TYPES.items()
}
CURVE_TYPES = rules.CURVE_TYPES
ALL_TYPES = rules.ALL_TYPES
Y_UNITS = rules.Y_UNITS
VOLT_PCT = rules.VOLT_PCT
PCT = rules.PCT
freq_range = rules.freq_range
check = rules.check


def build_trip(
    control_type: str,
    points: Sequence[tuple[float, float]],
    nominal_hz: float,
    mean: MeanSpec | None = None,
    reactive_during_cessation: bool = False,
) -> TripControl:
    direction = TRIP_TYPES[control_type][0]
    y_range, unit = rules.trip_y_range(control_type, nominal_hz)
    curve = make_stage_curve(control_type, direction, points, y_range, unit)
    if mean is not None:
        rules.check_trip_mean(control_type, mean.threshold_pct, mean.trip_delay_s)
    return TripControl(curve, mean, reactive_during_cessation)


def build_curve(
    control_type: str,
    points: Sequence[tuple[float, float]],
    nominal_hz: float,
    response_time_s: float,
    hysteresis: HysteresisSpec | None = None,
    vref_pct: float = 100.0,
    autonomous_vref: bool = False,
    vref_time_constant_s: float = 0.0,
) -> VoltVarSpec | WattCurveSpec | WattVarSpec | WattPFSpec:
    pts = rules.check_curve(
        control_type,
        points,
        nominal_hz,
        response_time_s,
        vref_pct,
        autonomous_vref,
        vref_time_constant_s,
    )
    if control_type == "VoltVar":
        return VoltVarSpec(
            pts, response_time_s, vref_pct, autonomous_vref, vref_time_constant_s, hysteresis
        )
    if control_type in ("VoltWatt", "FreqWatt"):
        return WattCurveSpec(pts, response_time_s, hysteresis)
    if control_type == "WattVar":
        return WattVarSpec(pts)
    return WattPFSpec(pts)


def build_hysteresis(
    control_type: str, low: float, high: float, delay_s: float, gradient: float
) -> HysteresisSpec:
    rules.check_hysteresis(control_type, low, high, delay_s, gradient)
    return HysteresisSpec(low, high, delay_s, gradient)


def build_freq_droop(
    over_hz: float,
    under_hz: float,
    over_droop: float,
    under_droop: float,
    response_s: float,
    nominal_hz: float,
) -> FreqDroopSpec:
    rules.check_freq_droop(over_hz, under_hz, over_droop, under_droop, response_s, nominal_hz)
    return FreqDroopSpec(over_hz, under_hz, over_droop, under_droop, response_s)


def build_enter_service(
    low_v: float,
    high_v: float,
    low_f: float,
    high_f: float,
    delay_s: float,
    random_delay_s: float,
    ramp_s: float,
    nominal_hz: float,
) -> EnterServiceSpec:
    rules.check_enter_service(
        low_v, high_v, low_f, high_f, (delay_s, random_delay_s, ramp_s), nominal_hz
    )
    return EnterServiceSpec(low_v, high_v, low_f, high_f, delay_s, random_delay_s, ramp_s)


def build_fixed_pf(control_type: str, displacement: float, excitation: bool) -> FixedPFSpec:
    rules.check_fixed_pf(control_type, displacement)
    return FixedPFSpec(displacement, excitation)


def build_fixed_var(setpoint_pct: float, unit: str) -> FixedVarSpec:
    rules.check_fixed_var(setpoint_pct, unit)
    return FixedVarSpec(setpoint_pct)


def build_gradient(gradient_s: float, soft_gradient_s: float) -> GradientSpec:
    rules.check_gradient(gradient_s, soft_gradient_s)
    return GradientSpec(gradient_s, soft_gradient_s)


def build_limit_max_discharge(
    pct: float | None, power_monitoring: StageCurve | None
) -> LimitMaxDischargeSpec:
    if pct is not None:
        rules.check_limit_max_discharge(pct)
    return LimitMaxDischargeSpec(pct, power_monitoring)
