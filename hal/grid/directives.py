"""OCPP 2.1 DER controls (SetDERControlRequest shape, camelCase) -> executable specs.

evse passes what the CSMS sent: {id or controlId, controlType, isDefault, priority,
startTime, duration, and the one matching field}. Scheduling (startTime / duration,
superseding, R04.FR.02-08 and FR.20-22) is evse's job: it sends only the controls in
force. hal checks what it can execute and refuses the rest with the reason:
R04.FR.16/17 exactly one control field and it matches controlType, R04.FR.50-56 yUnit
per curve type, R04.FR.15 EnterService and Gradients only as defaults, and the value
ranges: all in the contract (hal/der_parse.py, hal/der_rules.py), which evse runs too.
At most one control per controlType is applied: the one with the lowest priority value
(0 is highest, a tie keeps the first), the others are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hal.der_parse import Checked, directive_id, parse
from hal.der_rules import CONTROL_FIELDS, FIELD_FOR, trip_y_range
from hal.grid import controls as c
from hal.grid.curves import CurveError
from hal.grid.must_trip import make_stage_curve

__all__ = ["CONTROL_FIELDS", "FIELD_FOR", "ParsedDirective", "directive_id", "select_active"]


@dataclass(frozen=True, slots=True)
class ParsedDirective:
    id: str
    control_type: str
    priority: int
    spec: c.Spec


def parse_directive(d: Mapping[str, Any], nominal_hz: float) -> ParsedDirective:
    """Raise CurveError with the reason when the directive cannot be executed. The rules
    are the contract's (hal/der_parse.py): evse ran the same before it said Accepted."""
    ck = parse(d, nominal_hz)
    return ParsedDirective(ck.id, ck.control_type, ck.priority, _spec(ck, nominal_hz))


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


def _spec(ck: Checked, nominal_hz: float) -> c.Spec:
    ctype, p = ck.control_type, ck.params
    if ctype in c.TRIP_TYPES:
        mean = c.MeanSpec(*p["mean"]) if p["mean"] is not None else None
        return c.build_trip(ctype, p["points"], nominal_hz, mean, p["reactive"])
    if ctype in c.CURVE_TYPES:
        hyst = c.build_hysteresis(ctype, *p["hysteresis"]) if p["hysteresis"] else None
        return c.build_curve(
            ctype,
            p["points"],
            nominal_hz,
            p["response_time_s"],
            hyst,
            p["vref_pct"],
            p["autonomous_vref"],
            p["vref_time_constant_s"],
        )
    if ctype == "FreqDroop":
        return c.build_freq_droop(**p, nominal_hz=nominal_hz)
    if ctype == "EnterService":
        return c.build_enter_service(**p, nominal_hz=nominal_hz)
    if ctype in ("FixedPFAbsorb", "FixedPFInject"):
        return c.build_fixed_pf(ctype, p["displacement"], p["excitation"])
    if ctype == "FixedVar":
        return c.build_fixed_var(p["setpoint_pct"], p["unit"])
    if ctype == "Gradients":
        return c.build_gradient(p["gradient_s"], p["soft_gradient_s"])
    monitor = None
    if p["monitor"] is not None:
        monitor = make_stage_curve(
            "PowerMonitoringMustTrip",
            c.TRIP_TYPES["PowerMonitoringMustTrip"][0],
            p["monitor"],
            *trip_y_range("PowerMonitoringMustTrip", nominal_hz),
        )
    return c.build_limit_max_discharge(p["pct"], monitor)
