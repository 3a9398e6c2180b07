"""The value rules of OCPP 2.1 DER controls: one pure validator both sides use.

Part of the hal contract like protocol.py, with der_parse.py (which reads a control's
fields and calls these checks): evse parses when the CSMS sends SetDERControl (so the
CSMS hears Rejected for a control hal would refuse), hal parses every directive, and
hal's builders (hal/grid/controls.py) call the same checks for the grid-code preset.
Standard library only: evse may import this module without pulling hal internals
(docs/hal-contract.md, layering).

Rules: R04.FR.16/17 exactly one control field and it matches controlType; R04.FR.50-56
yUnit per curve type; R04.FR.15 EnterService and Gradients only as defaults; the value
ranges hal can execute (curve points, trip stages, droop, enter-service window, ...).
Units: voltage in percent of nominal, frequency in Hz, time in s, power in percent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

Point = tuple[float, float]
Points = tuple[Point, ...]

MAX_POINTS = 10  # DERCurveType.curveData maxItems
OVER, UNDER = "over", "under"

# (direction, quantity) of every trip-type curve.
TRIP_TYPES: dict[str, tuple[str, str]] = {
    "HVMustTrip": (OVER, "V"),
    "HVMayTrip": (OVER, "V"),
    "HVMomCess": (OVER, "V"),
    "LVMustTrip": (UNDER, "V"),
    "LVMayTrip": (UNDER, "V"),
    "LVMomCess": (UNDER, "V"),
    "HFMustTrip": (OVER, "F"),
    "HFMayTrip": (OVER, "F"),
    "LFMustTrip": (UNDER, "F"),
    "PowerMonitoringMustTrip": (OVER, "P"),
}
CURVE_TYPES = ("VoltVar", "VoltWatt", "FreqWatt", "WattVar", "WattPF")
FIELD_FOR: dict[str, str] = {
    **{t: "curve" for t in (*TRIP_TYPES, *CURVE_TYPES)},
    "EnterService": "enterService",
    "FixedPFAbsorb": "fixedPFAbsorb",
    "FixedPFInject": "fixedPFInject",
    "FixedVar": "fixedVar",
    "FreqDroop": "freqDroop",
    "Gradients": "gradient",
    "LimitMaxDischarge": "limitMaxDischarge",
}
ALL_TYPES = tuple(FIELD_FOR)
CONTROL_FIELDS = frozenset(FIELD_FOR.values())
DEFAULT_ONLY = ("EnterService", "Gradients")  # R04.FR.15
# R04.FR.50-56: the yUnit each curve type accepts.
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
RANGE = "ValueOutOfRange"  # OCPP reason codes (Part 2 appendix, generic)
INVALID = "InvalidValue"


class DerRuleError(ValueError):
    """A control hal cannot execute. str() is the reason; `rule` names the requirement
    (or "range" for a value hal cannot execute); `reason_code` is the OCPP reasonCode."""

    def __init__(self, reason: str, rule: str = "range", reason_code: str = RANGE) -> None:
        if rule.startswith("R0"):
            reason = f"{reason} ({rule})"  # the requirement, for the log and the CSMS
        super().__init__(reason)
        self.rule = rule
        self.reason_code = reason_code


def _invalid(reason: str, rule: str = "value") -> DerRuleError:
    return DerRuleError(reason, rule, INVALID)


def freq_range(nominal_hz: float) -> tuple[float, float]:
    return (nominal_hz * 0.8, nominal_hz * 1.2)


def check(control: str, name: str, value: float, lo: float, hi: float, unit: str) -> None:
    if not lo <= value <= hi:  # also false for NaN
        raise DerRuleError(f"{control}: {name} = {value} outside {lo:g}..{hi:g} {unit}")


def validate_points(
    points: Iterable[Sequence[float]],
    name: str = "curve",
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    max_points: int = MAX_POINTS,
) -> Points:
    """A function curve: strictly increasing x (else ambiguous), finite, in range."""
    out: list[Point] = []
    for i, p in enumerate(points):
        if len(p) != 2:
            raise _invalid(f"{name}: point {i} must be (x, y), got {list(p)!r}")
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DerRuleError(f"{name}: point {i} ({x}, {y}) is not finite")
        if x_range is not None and not x_range[0] <= x <= x_range[1]:
            raise DerRuleError(f"{name}: point {i} x={x} outside {x_range[0]}..{x_range[1]}")
        if y_range is not None and not y_range[0] <= y <= y_range[1]:
            raise DerRuleError(f"{name}: point {i} y={y} outside {y_range[0]}..{y_range[1]}")
        if out and x == out[-1][0]:
            raise _invalid(f"{name}: point {i} duplicates x={x} of point {i - 1}")
        if out and x < out[-1][0]:
            raise _invalid(
                f"{name}: point {i} x={x} is below point {i - 1} x={out[-1][0]}"
                " (points must be sorted by x)"
            )
        out.append((x, y))
    if not out:
        raise _invalid(f"{name}: needs at least one point")
    if len(out) > max_points:
        raise _invalid(f"{name}: {len(out)} points, at most {max_points}")
    return tuple(out)


def trip_y_range(control_type: str, nominal_hz: float) -> tuple[tuple[float, float], str]:
    direction, quantity = TRIP_TYPES[control_type]
    if quantity == "V":
        return ((100.0, 200.0) if direction == OVER else (0.0, 100.0)), "%Un"
    if quantity == "F":
        lo, hi = freq_range(nominal_hz)
        return ((nominal_hz, hi) if direction == OVER else (lo, nominal_hz)), "Hz"
    return (0.0, 200.0), "% of rated discharge"


def stage_points(
    control_type: str,
    direction: str,
    points: Sequence[tuple[float, float]],
    y_range: tuple[float, float],
    y_unit: str,
) -> Points:
    """Trip stages (time s, threshold): x = time, y = the grid quantity; sorted by time,
    a longer clearing time belongs to a milder excursion."""
    if not points:
        raise _invalid(f"{control_type}: needs at least one (time, {y_unit}) point")
    if len(points) > MAX_POINTS:
        raise _invalid(f"{control_type}: {len(points)} points, at most {MAX_POINTS}")
    out: list[Point] = []
    for i, (t, y) in enumerate(points):
        if not (math.isfinite(t) and math.isfinite(y)):
            raise DerRuleError(f"{control_type}: point {i} is not finite")
        if t < 0.0:
            raise DerRuleError(f"{control_type}: point {i} time x={t} s is negative")
        if not y_range[0] <= y <= y_range[1]:
            raise DerRuleError(
                f"{control_type}: point {i} y={y} outside {y_range[0]}..{y_range[1]} {y_unit}"
                " (trip curves put time in s on x and the grid quantity on y)"
            )
        if out and t <= out[-1][0]:
            raise _invalid(
                f"{control_type}: point {i} time x={t} s is not after point {i - 1}"
                f" x={out[-1][0]} s (points must be sorted by time, no duplicates)"
            )
        if out:
            prev = out[-1][1]
            if (y >= prev) if direction == OVER else (y <= prev):
                raise _invalid(
                    f"{control_type}: point {i} threshold {y} {y_unit} after {t} s must be"
                    f" {'below' if direction == OVER else 'above'} point {i - 1}'s"
                    f" {prev} {y_unit}: a longer clearing time belongs to a milder excursion"
                )
        out.append((float(t), float(y)))
    return tuple(out)


def check_trip_mean(control_type: str, threshold_pct: float, delay_s: float) -> None:
    check(control_type, "hv10MinMeanValue", threshold_pct, 100.0, 150.0, "%Un")
    check(control_type, "hv10MinMeanTripDelay", delay_s, 0.0, 3600.0, "s")


def check_curve(
    control_type: str,
    points: Sequence[tuple[float, float]],
    nominal_hz: float,
    response_time_s: float,
    vref_pct: float = 100.0,
    autonomous_vref: bool = False,
    vref_time_constant_s: float = 0.0,
) -> Points:
    check(control_type, "responseTime", response_time_s, 0.0, 600.0, "s")
    if control_type == "VoltVar":
        check(control_type, "vRef", vref_pct, 80.0, 120.0, "%Un")
        check(control_type, "autonomousVRefTimeConstant", vref_time_constant_s, 0.0, 1e4, "s")
        if autonomous_vref and vref_time_constant_s <= 0.0:
            raise DerRuleError(f"{control_type}: autonomous vRef needs a time constant > 0 s")
        return validate_points(points, control_type, VOLT_PCT, PCT)
    if control_type == "VoltWatt":
        return validate_points(points, control_type, VOLT_PCT, PCT)
    if control_type == "FreqWatt":
        return validate_points(points, control_type, freq_range(nominal_hz), PCT)
    if control_type == "WattVar":
        return validate_points(points, control_type, PCT, PCT)
    if control_type == "WattPF":
        pts = validate_points(points, control_type, PCT, (-1.0, 1.0))
        for i, (_, pf) in enumerate(pts):
            if abs(pf) < 0.1:
                raise DerRuleError(f"{control_type}: point {i} power factor {pf} below 0.1")
        return pts
    raise _invalid(f"{control_type}: not a curve control")


def check_hysteresis(control_type: str, low: float, high: float, delay: float, grad: float) -> None:
    if low > high:
        raise DerRuleError(f"{control_type}: hysteresisLow {low} above hysteresisHigh {high}")
    check(control_type, "hysteresisDelay", delay, 0.0, 3600.0, "s")
    check(control_type, "hysteresisGradient", grad, 0.0, 1000.0, "%/s")


def check_freq_droop(
    over_hz: float, under_hz: float, over: float, under: float, resp: float, nominal_hz: float
) -> None:
    lo, hi = freq_range(nominal_hz)
    check("FreqDroop", "overFreq", over_hz, nominal_hz, hi, "Hz")
    check("FreqDroop", "underFreq", under_hz, lo, nominal_hz, "Hz")
    check("FreqDroop", "overDroop", over, 0.001, 1.0, "pu")
    check("FreqDroop", "underDroop", under, 0.001, 1.0, "pu")
    check("FreqDroop", "responseTime", resp, 0.0, 600.0, "s")


def check_enter_service(
    low_v: float,
    high_v: float,
    low_f: float,
    high_f: float,
    delays: tuple[float, float, float],
    nominal_hz: float,
) -> None:
    """delays: (delay, randomDelay, rampRate) in s."""
    check("EnterService", "lowVoltage", low_v, *VOLT_PCT, "%Un")
    check("EnterService", "highVoltage", high_v, *VOLT_PCT, "%Un")
    lo, hi = freq_range(nominal_hz)
    check("EnterService", "lowFreq", low_f, lo, hi, "Hz")
    check("EnterService", "highFreq", high_f, lo, hi, "Hz")
    if low_v >= high_v:
        raise DerRuleError(f"EnterService: lowVoltage {low_v} must be below highVoltage {high_v}")
    if low_f >= high_f:
        raise DerRuleError(f"EnterService: lowFreq {low_f} must be below highFreq {high_f}")
    for name, v in zip(("delay", "randomDelay", "rampRate"), delays, strict=True):
        check("EnterService", name, v, 0.0, 3600.0, "s")


def check_fixed_pf(control_type: str, displacement: float) -> None:
    if not 0.0 < displacement <= 1.0:
        raise DerRuleError(f"{control_type}: displacement {displacement} must be in (0, 1]")


def check_fixed_var(setpoint_pct: float, unit: str) -> None:
    if unit not in ("PctMaxVar", "PctVarAvail"):
        raise _invalid(f"FixedVar: unit {unit!r} must be PctMaxVar or PctVarAvail")
    check("FixedVar", "setpoint", setpoint_pct, *PCT, "%")


def check_gradient(gradient_s: float, soft_gradient_s: float) -> None:
    check("Gradients", "gradient", gradient_s, 0.0, 3600.0, "s")
    check("Gradients", "softGradient", soft_gradient_s, 0.0, 3600.0, "s")


def check_limit_max_discharge(pct: float) -> None:
    check("LimitMaxDischarge", "pctMaxDischargePower", pct, 0.0, 100.0, "%")
