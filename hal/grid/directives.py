"""OCPP 2.1 DER controls (SetDERControlRequest shape, camelCase) -> executable specs.

evse passes what the CSMS sent: {id or controlId, controlType, isDefault, priority,
startTime, duration, and the one matching field}. Scheduling (startTime / duration,
superseding, R04.FR.02-08 and FR.20-22) is evse's job: it sends only the controls in
force. hal checks what it can execute and refuses the rest with the reason:
R04.FR.16/17 exactly one control field and it matches controlType, R04.FR.50-56 yUnit
per curve type, R04.FR.15 EnterService and Gradients only as defaults, and the value
checks in controls.py. At most one control per controlType is applied: the one with the
lowest priority value (0 is highest, a tie keeps the first), the others are refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hal.grid import controls as c
from hal.grid.curves import CurveError, ocpp_points

CONTROL_FIELDS = {
    "curve",
    "enterService",
    "fixedPFAbsorb",
    "fixedPFInject",
    "fixedVar",
    "freqDroop",
    "gradient",
    "limitMaxDischarge",
}
FIELD_FOR = {
    **{t: "curve" for t in (*c.TRIP_TYPES, *c.CURVE_TYPES)},
    "EnterService": "enterService",
    "FixedPFAbsorb": "fixedPFAbsorb",
    "FixedPFInject": "fixedPFInject",
    "FixedVar": "fixedVar",
    "FreqDroop": "freqDroop",
    "Gradients": "gradient",
    "LimitMaxDischarge": "limitMaxDischarge",
}


@dataclass(frozen=True, slots=True)
class ParsedDirective:
    id: str
    control_type: str
    priority: int
    spec: c.Spec


def directive_id(d: Mapping[str, Any]) -> str:
    raw = d.get("id", d.get("controlId", ""))
    return raw if isinstance(raw, str) else str(raw)


def parse_directive(d: Mapping[str, Any], nominal_hz: float) -> ParsedDirective:
    """Raise CurveError with the reason when the directive cannot be executed."""
    did = directive_id(d)
    if not did:
        raise CurveError("missing id")
    ctype = d.get("controlType")
    if not isinstance(ctype, str):
        raise CurveError("missing controlType")
    if ctype not in FIELD_FOR:
        raise CurveError(f"controlType {ctype!r} is not a DERControlEnumType this unit executes")
    present = sorted(k for k in CONTROL_FIELDS if d.get(k) is not None)
    field = FIELD_FOR[ctype]
    if present != [field]:  # R04.FR.16 / FR.17
        raise CurveError(f"{ctype} needs exactly the field {field!r}, got {present or 'none'}")
    body = d[field]
    if not isinstance(body, Mapping):
        raise CurveError(f"{ctype}: {field} must be an object")
    if ctype in ("EnterService", "Gradients") and d.get("isDefault") is False:
        raise CurveError(f"{ctype} is accepted only as a default control (R04.FR.15)")
    priority = body.get("priority", d.get("priority", 0))
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 0:
        raise CurveError(f"{ctype}: priority must be an integer >= 0")
    return ParsedDirective(did, ctype, priority, _spec(ctype, body, nominal_hz))


def select_active(
    directives: Sequence[Mapping[str, Any]], nominal_hz: float
) -> tuple[dict[str, ParsedDirective], list[tuple[str, str]]]:
    """Parse the full set; return (control type -> applied directive, [(id, reason)])."""
    chosen: dict[str, ParsedDirective] = {}
    rejected: list[tuple[str, str]] = []
    for d in directives:
        if d.get("active") is False:
            continue  # stored by evse, not in force: nothing to execute or refuse
        try:
            p = parse_directive(d, nominal_hz)
        except CurveError as e:
            rejected.append((directive_id(d), str(e)))
            continue
        old = chosen.get(p.control_type)
        if old is None or p.priority < old.priority:
            if old is not None:
                rejected.append((old.id, _superseded(old, p)))
            chosen[p.control_type] = p
        else:
            rejected.append((p.id, _superseded(p, old)))
    return chosen, rejected


def _superseded(loser: ParsedDirective, winner: ParsedDirective) -> str:
    return (
        f"another {loser.control_type} control is applied ({winner.id!r}, priority"
        f" {winner.priority}); hal applies one control per type"
    )


def _num(body: Mapping[str, Any], key: str, ctx: str, default: float | None = None) -> float:
    v = body.get(key)
    if v is None:
        if default is None:
            raise CurveError(f"{ctx}: {key} is required")
        return default
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise CurveError(f"{ctx}: {key} must be a finite number")
    return float(v)


def _spec(ctype: str, b: Mapping[str, Any], nominal_hz: float) -> c.Spec:
    if ctype in c.TRIP_TYPES or ctype in c.CURVE_TYPES:
        return _curve(ctype, b, nominal_hz)
    if ctype == "FreqDroop":
        return c.build_freq_droop(
            _num(b, "overFreq", ctype),
            _num(b, "underFreq", ctype),
            _num(b, "overDroop", ctype),
            _num(b, "underDroop", ctype),
            _num(b, "responseTime", ctype),
            nominal_hz,
        )
    if ctype == "EnterService":
        return c.build_enter_service(
            _num(b, "lowVoltage", ctype),
            _num(b, "highVoltage", ctype),
            _num(b, "lowFreq", ctype),
            _num(b, "highFreq", ctype),
            _num(b, "delay", ctype, 0.0),
            _num(b, "randomDelay", ctype, 0.0),
            _num(b, "rampRate", ctype, 0.0),
            nominal_hz,
        )
    if ctype in ("FixedPFAbsorb", "FixedPFInject"):
        exc = b.get("excitation")
        if not isinstance(exc, bool):
            raise CurveError(f"{ctype}: excitation must be true or false")
        return c.build_fixed_pf(ctype, _num(b, "displacement", ctype), exc)
    if ctype == "FixedVar":
        return c.build_fixed_var(_num(b, "setpoint", ctype), str(b.get("unit", "")))
    if ctype == "Gradients":
        return c.build_gradient(_num(b, "gradient", ctype), _num(b, "softGradient", ctype))
    # LimitMaxDischarge
    pct = None
    if b.get("pctMaxDischargePower") is not None:
        pct = _num(b, "pctMaxDischargePower", ctype)
    pm = b.get("powerMonitoringMustTrip")
    monitor = None
    if pm is not None:
        if not isinstance(pm, Mapping):
            raise CurveError(f"{ctype}: powerMonitoringMustTrip must be a DERCurve")
        parsed = _curve("PowerMonitoringMustTrip", pm, nominal_hz)
        if isinstance(parsed, c.TripControl):
            monitor = parsed.curve
    if pct is None and monitor is None:
        raise CurveError(f"{ctype}: needs pctMaxDischargePower or powerMonitoringMustTrip")
    return c.build_limit_max_discharge(pct, monitor)


def _curve(ctype: str, b: Mapping[str, Any], nominal_hz: float) -> c.Spec:
    y_unit = b.get("yUnit")
    if y_unit not in c.Y_UNITS[ctype]:  # R04.FR.50-56
        raise CurveError(f"{ctype}: yUnit {y_unit!r} must be one of {', '.join(c.Y_UNITS[ctype])}")
    points = ocpp_points(b.get("curveData"), ctype)
    if ctype in c.TRIP_TYPES:
        vp = b.get("voltageParams")
        mean = None
        reactive = False
        if vp is not None:
            if not isinstance(vp, Mapping):
                raise CurveError(f"{ctype}: voltageParams must be an object")
            has_v = vp.get("hv10MinMeanValue") is not None
            has_d = vp.get("hv10MinMeanTripDelay") is not None
            if has_v != has_d:
                raise CurveError(f"{ctype}: hv10MinMeanValue and hv10MinMeanTripDelay go together")
            if has_v:
                mean = c.MeanSpec(
                    _num(vp, "hv10MinMeanValue", ctype), _num(vp, "hv10MinMeanTripDelay", ctype)
                )
            pdc = vp.get("powerDuringCessation")
            if pdc not in (None, "Active", "Reactive"):
                raise CurveError(f"{ctype}: powerDuringCessation {pdc!r}")
            reactive = pdc == "Reactive"
        return c.build_trip(ctype, points, nominal_hz, mean, reactive)
    hyst = None
    h = b.get("hysteresis")
    if h is not None:
        if not isinstance(h, Mapping):
            raise CurveError(f"{ctype}: hysteresis must be an object")
        hyst = c.build_hysteresis(
            ctype,
            _num(h, "hysteresisLow", ctype),
            _num(h, "hysteresisHigh", ctype),
            _num(h, "hysteresisDelay", ctype, 0.0),
            _num(h, "hysteresisGradient", ctype, 0.0),
        )
    rp = b.get("reactivePowerParams") or {}
    if not isinstance(rp, Mapping):
        raise CurveError(f"{ctype}: reactivePowerParams must be an object")
    auto = rp.get("autonomousVRefEnable", False)
    if not isinstance(auto, bool):
        raise CurveError(f"{ctype}: autonomousVRefEnable must be true or false")
    return c.build_curve(
        ctype,
        points,
        nominal_hz,
        _num(b, "responseTime", ctype, 0.0),
        hyst,
        _num(rp, "vRef", ctype, 100.0),
        auto,
        _num(rp, "autonomousVRefTimeConstant", ctype, 0.0),
    )
