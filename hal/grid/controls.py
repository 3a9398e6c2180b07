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

from hal.grid.curves import CurveError, Points, validate_points
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

# (direction, quantity) of every trip-type curve; y ranges are set per nominal below.
TRIP_TYPES: dict[str, tuple[Direction, str]] = {
    "HVMustTrip": (Direction.OVER, "V"),
    "HVMayTrip": (Direction.OVER, "V"),
    "HVMomCess": (Direction.OVER, "V"),
    "LVMustTrip": (Direction.UNDER, "V"),
    "LVMayTrip": (Direction.UNDER, "V"),
    "LVMomCess": (Direction.UNDER, "V"),
    "HFMustTrip": (Direction.OVER, "F"),
    "HFMayTrip": (Direction.OVER, "F"),
    "LFMustTrip": (Direction.UNDER, "F"),
    "PowerMonitoringMustTrip": (Direction.OVER, "P"),
}
CURVE_TYPES = ("VoltVar", "VoltWatt", "FreqWatt", "WattVar", "WattPF")
ALL_TYPES = (
    *TRIP_TYPES,
    *CURVE_TYPES,
    "EnterService",
    "FreqDroop",
    "FixedPFAbsorb",
    "FixedPFInject",
    "FixedVar",
    "Gradients",
    "LimitMaxDischarge",
)
# R04.FR.50-55: the yUnit each curve type accepts.
Y_UNITS: dict[str, tuple[str, ...]] = {
    **{t: ("Not_Applicable",) for t in TRIP_TYPES},
    "FreqWatt": ("PctMaxW", "PctWAvail"),
    "VoltWatt": ("PctMaxW", "PctWAvail"),
    "VoltVar": ("PctMaxVar", "PctVarAvail"),
    "WattVar": ("PctMaxVar", "PctVarAvail"),
    "WattPF": ("Not_Applicable",),
}

VOLT_PCT = (50.0, 150.0)
PCT = (-100.0, 100.0)


def freq_range(nominal_hz: float) -> tuple[float, float]:
    return (nominal_hz * 0.8, nominal_hz * 1.2)


def build_trip(
    control_type: str,
    points: Sequence[tuple[float, float]],
    nominal_hz: float,
    mean: MeanSpec | None = None,
    reactive_during_cessation: bool = False,
) -> TripControl:
    direction, quantity = TRIP_TYPES[control_type]
    if quantity == "V":
        y_range, unit = ((100.0, 200.0) if direction is Direction.OVER else (0.0, 100.0)), "%Un"
    elif quantity == "F":
        lo, hi = freq_range(nominal_hz)
        y_range = (nominal_hz, hi) if direction is Direction.OVER else (lo, nominal_hz)
        unit = "Hz"
    else:
        y_range, unit = (0.0, 200.0), "% of rated discharge"
    curve = make_stage_curve(control_type, direction, points, y_range, unit)
    if mean is not None:
        check(control_type, "hv10MinMeanValue", mean.threshold_pct, 100.0, 150.0, "%Un")
        check(control_type, "hv10MinMeanTripDelay", mean.trip_delay_s, 0.0, 3600.0, "s")
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
    check(control_type, "responseTime", response_time_s, 0.0, 600.0, "s")
    if control_type == "VoltVar":
        pts = validate_points(points, control_type, VOLT_PCT, PCT)
        check(control_type, "vRef", vref_pct, 80.0, 120.0, "%Un")
        check(control_type, "autonomousVRefTimeConstant", vref_time_constant_s, 0.0, 10000.0, "s")
        if autonomous_vref and vref_time_constant_s <= 0.0:
            raise CurveError(f"{control_type}: autonomous vRef needs a time constant > 0 s")
        return VoltVarSpec(
            pts, response_time_s, vref_pct, autonomous_vref, vref_time_constant_s, hysteresis
        )
    if control_type == "VoltWatt":
        return WattCurveSpec(
            validate_points(points, control_type, VOLT_PCT, PCT), response_time_s, hysteresis
        )
    if control_type == "FreqWatt":
        return WattCurveSpec(
            validate_points(points, control_type, freq_range(nominal_hz), PCT),
            response_time_s,
            hysteresis,
        )
    if control_type == "WattVar":
        return WattVarSpec(validate_points(points, control_type, PCT, PCT))
    if control_type == "WattPF":
        pts = validate_points(points, control_type, PCT, (-1.0, 1.0))
        for i, (_, pf) in enumerate(pts):
            if abs(pf) < 0.1:
                raise CurveError(f"{control_type}: point {i} power factor {pf} below 0.1")
        return WattPFSpec(pts)
    raise CurveError(f"{control_type}: not a curve control")


def build_hysteresis(
    control_type: str, low: float, high: float, delay_s: float, gradient: float
) -> HysteresisSpec:
    if low > high:
        raise CurveError(f"{control_type}: hysteresisLow {low} above hysteresisHigh {high}")
    check(control_type, "hysteresisDelay", delay_s, 0.0, 3600.0, "s")
    check(control_type, "hysteresisGradient", gradient, 0.0, 1000.0, "%/s")
    return HysteresisSpec(low, high, delay_s, gradient)


def build_freq_droop(
    over_hz: float,
    under_hz: float,
    over_droop: float,
    under_droop: float,
    response_s: float,
    nominal_hz: float,
) -> FreqDroopSpec:
    lo, hi = freq_range(nominal_hz)
    check("FreqDroop", "overFreq", over_hz, nominal_hz, hi, "Hz")
    check("FreqDroop", "underFreq", under_hz, lo, nominal_hz, "Hz")
    check("FreqDroop", "overDroop", over_droop, 0.001, 1.0, "pu")
    check("FreqDroop", "underDroop", under_droop, 0.001, 1.0, "pu")
    check("FreqDroop", "responseTime", response_s, 0.0, 600.0, "s")
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
    check("EnterService", "lowVoltage", low_v, *VOLT_PCT, "%Un")
    check("EnterService", "highVoltage", high_v, *VOLT_PCT, "%Un")
    lo, hi = freq_range(nominal_hz)
    check("EnterService", "lowFreq", low_f, lo, hi, "Hz")
    check("EnterService", "highFreq", high_f, lo, hi, "Hz")
    if low_v >= high_v:
        raise CurveError(f"EnterService: lowVoltage {low_v} must be below highVoltage {high_v}")
    if low_f >= high_f:
        raise CurveError(f"EnterService: lowFreq {low_f} must be below highFreq {high_f}")
    check("EnterService", "delay", delay_s, 0.0, 3600.0, "s")
    check("EnterService", "randomDelay", random_delay_s, 0.0, 3600.0, "s")
    check("EnterService", "rampRate", ramp_s, 0.0, 3600.0, "s")
    return EnterServiceSpec(low_v, high_v, low_f, high_f, delay_s, random_delay_s, ramp_s)


def build_fixed_pf(control_type: str, displacement: float, excitation: bool) -> FixedPFSpec:
    if not 0.0 < displacement <= 1.0:
        raise CurveError(f"{control_type}: displacement {displacement} must be in (0, 1]")
    return FixedPFSpec(displacement, excitation)


def build_fixed_var(setpoint_pct: float, unit: str) -> FixedVarSpec:
    if unit not in ("PctMaxVar", "PctVarAvail"):
        raise CurveError(f"FixedVar: unit {unit!r} must be PctMaxVar or PctVarAvail")
    check("FixedVar", "setpoint", setpoint_pct, *PCT, "%")
    return FixedVarSpec(setpoint_pct)


def build_gradient(gradient_s: float, soft_gradient_s: float) -> GradientSpec:
    check("Gradients", "gradient", gradient_s, 0.0, 3600.0, "s")
    check("Gradients", "softGradient", soft_gradient_s, 0.0, 3600.0, "s")
    return GradientSpec(gradient_s, soft_gradient_s)


def build_limit_max_discharge(
    pct: float | None, power_monitoring: StageCurve | None
) -> LimitMaxDischargeSpec:
    if pct is not None:
        check("LimitMaxDischarge", "pctMaxDischargePower", pct, 0.0, 100.0, "%")
    return LimitMaxDischargeSpec(pct, power_monitoring)


def check(control: str, name: str, value: float, lo: float, hi: float, unit: str) -> None:
    if not lo <= value <= hi:  # also false for NaN
        raise CurveError(f"{control}: {name} = {value} outside {lo:g}..{hi:g} {unit}")
