"""Read an OCPP 2.1 DER control (SetDERControlRequest shape, camelCase) and run every
rule of der_rules.py on it. Part of the hal contract, standard library only: evse calls
`parse` before it answers SetDERControl, hal before it builds what it executes
(hal/grid/directives.py). Scheduling rules (R04.FR.13 startTime / duration, superseding)
are evse's and not here.

`Checked.params` per control type (plain values, so evse needs no hal internals):
- trip curves: points (stages), mean (threshold %Un, delay s) or None, reactive (bool)
- VoltVar / VoltWatt / FreqWatt / WattVar / WattPF: points, response_time_s,
  hysteresis (low, high, delay s, gradient) or None, vref_pct, autonomous_vref,
  vref_time_constant_s
- FreqDroop: over_hz, under_hz, over_droop, under_droop, response_s
- EnterService: low_v, high_v, low_f, high_f, delay_s, random_delay_s, ramp_s
- FixedPFAbsorb / FixedPFInject: displacement, excitation; FixedVar: setpoint_pct, unit
- Gradients: gradient_s, soft_gradient_s; LimitMaxDischarge: pct, monitor (points)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hal import der_rules as r
from hal.der_rules import DerRuleError


@dataclass(frozen=True, slots=True)
class Checked:
    """A control that passed every rule, with its values normalized."""

    id: str
    control_type: str
    priority: int
    params: Mapping[str, Any]


def _invalid(reason: str, rule: str = "value") -> DerRuleError:
    return DerRuleError(reason, rule, r.INVALID)


def directive_id(d: Mapping[str, Any]) -> str:
    raw = d.get("id", d.get("controlId", ""))
    return raw if isinstance(raw, str) else str(raw)


def parse(d: Mapping[str, Any], nominal_hz: float) -> Checked:
    """Check a control; raise DerRuleError naming the rule it breaks."""
    did = directive_id(d)
    if not did:
        raise _invalid("missing id")
    ctype = d.get("controlType")
    if not isinstance(ctype, str):
        raise _invalid("missing controlType")
    if ctype not in r.FIELD_FOR:
        raise _invalid(f"controlType {ctype!r} is not a DERControlEnumType this unit executes")
    present = sorted(k for k in r.CONTROL_FIELDS if d.get(k) is not None)
    field = r.FIELD_FOR[ctype]
    if present != [field]:
        raise _invalid(
            f"{ctype} needs exactly the field {field!r}, got {present or 'none'}", "R04.FR.16/17"
        )
    body = d[field]
    if not isinstance(body, Mapping):
        raise _invalid(f"{ctype}: {field} must be an object")
    if ctype in r.DEFAULT_ONLY and d.get("isDefault") is False:
        raise _invalid(f"{ctype} is accepted only as a default control", "R04.FR.15")
    priority = body.get("priority", d.get("priority", 0))
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 0:
        raise _invalid(f"{ctype}: priority must be an integer >= 0")
    return Checked(did, ctype, priority, params(ctype, body, nominal_hz))


def _num(body: Mapping[str, Any], key: str, ctx: str, default: float | None = None) -> float:
    v = body.get(key)
    if v is None:
        if default is None:
            raise _invalid(f"{ctx}: {key} is required")
        return default
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _invalid(f"{ctx}: {key} must be a finite number")
    return float(v)


def ocpp_points(curve_data: Any, name: str) -> list[tuple[float, float]]:
    """DERCurveType.curveData ([{x, y}, ...]) as raw pairs."""
    if not isinstance(curve_data, list):
        raise _invalid(f"{name}: curveData must be a list of {{x, y}}")
    pairs: list[tuple[float, float]] = []
    for i, p in enumerate(curve_data):
        if not isinstance(p, Mapping):
            raise _invalid(f"{name}: curveData[{i}] must be an object {{x, y}}")
        x, y = p.get("x"), p.get("y")
        if not (_is_number(x) and _is_number(y)):
            raise _invalid(f"{name}: curveData[{i}] needs numeric x and y")
        assert isinstance(x, int | float) and isinstance(y, int | float)
        pairs.append((float(x), float(y)))
    return pairs


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def params(ctype: str, b: Mapping[str, Any], nominal_hz: float) -> dict[str, Any]:
    if ctype in r.TRIP_TYPES or ctype in r.CURVE_TYPES:
        return _curve(ctype, b, nominal_hz)
    if ctype == "FreqDroop":
        keys = ("overFreq", "underFreq", "overDroop", "underDroop", "responseTime")
        v = [_num(b, k, ctype) for k in keys]
        r.check_freq_droop(v[0], v[1], v[2], v[3], v[4], nominal_hz)
        names = ("over_hz", "under_hz", "over_droop", "under_droop", "response_s")
        return dict(zip(names, v, strict=True))
    if ctype == "EnterService":
        window = ("lowVoltage", "highVoltage", "lowFreq", "highFreq")
        lv, hv, lf, hf = (_num(b, k, ctype) for k in window)
        delays = (
            _num(b, "delay", ctype, 0.0),
            _num(b, "randomDelay", ctype, 0.0),
            _num(b, "rampRate", ctype, 0.0),
        )
        r.check_enter_service(lv, hv, lf, hf, delays, nominal_hz)
        return {
            "low_v": lv, "high_v": hv, "low_f": lf, "high_f": hf,
            "delay_s": delays[0], "random_delay_s": delays[1], "ramp_s": delays[2],
        }  # fmt: skip
    if ctype in ("FixedPFAbsorb", "FixedPFInject"):
        exc = b.get("excitation")
        if not isinstance(exc, bool):
            raise _invalid(f"{ctype}: excitation must be true or false")
        disp = _num(b, "displacement", ctype)
        r.check_fixed_pf(ctype, disp)
        return {"displacement": disp, "excitation": exc}
    if ctype == "FixedVar":
        sp, unit = _num(b, "setpoint", ctype), str(b.get("unit", ""))
        r.check_fixed_var(sp, unit)
        return {"setpoint_pct": sp, "unit": unit}
    if ctype == "Gradients":
        g, sg = _num(b, "gradient", ctype), _num(b, "softGradient", ctype)
        r.check_gradient(g, sg)
        return {"gradient_s": g, "soft_gradient_s": sg}
    # LimitMaxDischarge
    pct = None
    if b.get("pctMaxDischargePower") is not None:
        pct = _num(b, "pctMaxDischargePower", ctype)
        r.check_limit_max_discharge(pct)
    pm = b.get("powerMonitoringMustTrip")
    monitor = None
    if pm is not None:
        if not isinstance(pm, Mapping):
            raise _invalid(f"{ctype}: powerMonitoringMustTrip must be a DERCurve")
        monitor = _curve("PowerMonitoringMustTrip", pm, nominal_hz)["points"]
    if pct is None and monitor is None:
        raise _invalid(f"{ctype}: needs pctMaxDischargePower or powerMonitoringMustTrip")
    return {"pct": pct, "monitor": monitor}


def _curve(ctype: str, b: Mapping[str, Any], nominal_hz: float) -> dict[str, Any]:
    y_unit = b.get("yUnit")
    if y_unit not in r.Y_UNITS[ctype]:
        raise _invalid(
            f"{ctype}: yUnit {y_unit!r} must be one of {', '.join(r.Y_UNITS[ctype])}",
            "R04.FR.50-56",
        )
    raw = ocpp_points(b.get("curveData"), ctype)
    if ctype in r.TRIP_TYPES:
        y_range, unit = r.trip_y_range(ctype, nominal_hz)
        points = r.stage_points(ctype, r.TRIP_TYPES[ctype][0], raw, y_range, unit)
        return {"points": points, **_voltage_params(ctype, b.get("voltageParams"))}
    hyst = None
    h = b.get("hysteresis")
    if h is not None:
        if not isinstance(h, Mapping):
            raise _invalid(f"{ctype}: hysteresis must be an object")
        hyst = (
            _num(h, "hysteresisLow", ctype),
            _num(h, "hysteresisHigh", ctype),
            _num(h, "hysteresisDelay", ctype, 0.0),
            _num(h, "hysteresisGradient", ctype, 0.0),
        )
        r.check_hysteresis(ctype, *hyst)
    rp = b.get("reactivePowerParams") or {}
    if not isinstance(rp, Mapping):
        raise _invalid(f"{ctype}: reactivePowerParams must be an object")
    auto = rp.get("autonomousVRefEnable", False)
    if not isinstance(auto, bool):
        raise _invalid(f"{ctype}: autonomousVRefEnable must be true or false")
    resp = _num(b, "responseTime", ctype, 0.0)
    vref = _num(rp, "vRef", ctype, 100.0)
    tc = _num(rp, "autonomousVRefTimeConstant", ctype, 0.0)
    points = r.check_curve(ctype, raw, nominal_hz, resp, vref, auto, tc)
    return {
        "points": points, "response_time_s": resp, "hysteresis": hyst,
        "vref_pct": vref, "autonomous_vref": auto, "vref_time_constant_s": tc,
    }  # fmt: skip


def _voltage_params(ctype: str, vp: Any) -> dict[str, Any]:
    mean = None
    reactive = False
    if vp is not None:
        if not isinstance(vp, Mapping):
            raise _invalid(f"{ctype}: voltageParams must be an object")
        has_v = vp.get("hv10MinMeanValue") is not None
        has_d = vp.get("hv10MinMeanTripDelay") is not None
        if has_v != has_d:
            raise _invalid(f"{ctype}: hv10MinMeanValue and hv10MinMeanTripDelay go together")
        if has_v:
            mean = (_num(vp, "hv10MinMeanValue", ctype), _num(vp, "hv10MinMeanTripDelay", ctype))
            r.check_trip_mean(ctype, *mean)
        pdc = vp.get("powerDuringCessation")
        if pdc not in (None, "Active", "Reactive"):
            raise _invalid(f"{ctype}: powerDuringCessation {pdc!r}")
        reactive = pdc == "Reactive"
    return {"mean": mean, "reactive": reactive}
