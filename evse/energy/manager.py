"""The energy manager: one EVSE's inputs and `now` -> the power request for hal and the
target the SECC gives the car. Pure: nothing here awaits or reads a clock.

Order of precedence (why): the period in force picks the operation mode and its limits
(OCPP 2.1 Q03-Q10); the EV's limits and the allowed energy transfer (Q01: discharge only
when the CSMS allowed it) narrow them; hal's grid constraint narrows only the car's target,
never the request, because hal applies its own newest constraint on every sample and a
copy in the request would go stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evse.energy.curves import CurveError, interpolate, parse_curve
from evse.energy.operation_modes import (
    CHARGING_ONLY,
    IDLE,
    LOCAL_FREQUENCY,
    PLANNERS,
    Bounds,
    EmsInput,
    ModeInputs,
    Plan,
)
from evse.energy.types import SchedulePeriod
from hal.protocol import GridConstraintReport, PowerRequest

_DEFAULT_PHASES = 3  # OCPP: numberPhases absent on AC means 3


@dataclass(frozen=True, slots=True)
class EvLimits:
    """The car's limits from its ISO 15118 session (magnitudes in W)."""

    max_charge_w: float
    max_discharge_w: float = 0.0


@dataclass(frozen=True, slots=True)
class EnergyInputs:
    evse_id: int
    period: SchedulePeriod | None  # the merged period in force; None: no profile
    ev: EvLimits
    now: float  # time.monotonic() of the decision (offline fallback, signal age)
    may_discharge: bool = False  # allowedEnergyTransfer includes discharging (Q01)
    constraint: GridConstraintReport | None = None
    ems: EmsInput | None = None
    afrr_signal: int | None = None  # the latest AFRRSignal in force (Q08)
    frequency_hz: float | None = None
    site_import_w: float | None = None  # grid meter, positive imports (Q09)
    own_w: float = 0.0  # this EVSE's power when the grid meter was read
    grid_limit_w: float | None = None  # the grid connection's limit (Q09)
    volts: float = 230.0  # line-to-neutral, to turn A into W


@dataclass(frozen=True, slots=True)
class Decision:
    request: PowerRequest
    ev_target_w: float
    plan: Plan
    note: str = ""  # why a period could not be followed as given (logged by the caller)


def period_watts(p: SchedulePeriod, key: str, volts: float) -> float | None:
    """A period value in W: L2/L3 given -> the field is L1 and the phases add up; in A,
    times the voltage (and the phases when the value is for all of them)."""
    raw: dict[str, Any] = dict(p)
    base = raw.get(key)
    if base is None:
        return None
    l2, l3 = raw.get(f"{key}_L2"), raw.get(f"{key}_L3")
    per_phase = l2 is not None or l3 is not None
    total = float(base) + float(l2 or 0.0) + float(l3 or 0.0)
    if p.get("chargingRateUnit", "W") != "A":
        return total
    phases = 1 if per_phase else int(p.get("numberPhases", _DEFAULT_PHASES) or 1)
    return total * volts * phases


def signal_power(p: SchedulePeriod, signal: int | None) -> float | None:
    """Q08 aFRR: the signal looked up in v2xSignalWattCurve (None: no signal or curve)."""
    raw = p.get("v2xSignalWattCurve")
    if signal is None or not raw:
        return None
    try:
        return interpolate(parse_curve(raw, "signal"), float(signal))
    except CurveError:
        return None


def _bounds(inp: EnergyInputs, p: SchedulePeriod) -> Bounds:
    lo = -inp.ev.max_discharge_w if inp.may_discharge else 0.0
    b = Bounds(min(lo, 0.0), max(inp.ev.max_charge_w, 0.0))
    limit = period_watts(p, "limit", inp.volts)
    discharge = period_watts(p, "dischargeLimit", inp.volts)
    # A negative limit is the pre-2.1 way to allow discharge; 2.1 uses dischargeLimit.
    return b.within(discharge, limit if limit is None or limit >= 0 else None)


def _mode_inputs(inp: EnergyInputs, p: SchedulePeriod) -> tuple[str, ModeInputs]:
    mode = p.get("operationMode", CHARGING_ONLY)
    if p.get("evseSleep"):
        mode = IDLE  # evseSleep only with Idle (Q10)
    curve: tuple[tuple[float, float], ...] = ()
    if mode == LOCAL_FREQUENCY:
        # Q08.FR.02: LocalFrequency needs v2xBaseline and a freq-watt curve.
        if "v2xBaseline" not in p:
            raise CurveError("LocalFrequency without v2xBaseline")
        curve = parse_curve(p.get("v2xFreqWattCurve") or [], "frequency")
    baseline = period_watts(p, "v2xBaseline", inp.volts) or 0.0
    return mode, ModeInputs(
        bounds=_bounds(inp, p),
        setpoint_w=period_watts(p, "setpoint", inp.volts),
        baseline_w=baseline,
        freq_watt=curve,
        afrr_w=signal_power(p, inp.afrr_signal),
        ems=inp.ems,
        frequency_hz=inp.frequency_hz,
        site_import_w=inp.site_import_w,
        own_w=inp.own_w,
        grid_limit_w=inp.grid_limit_w,
    )


def _plan(inp: EnergyInputs) -> tuple[Plan, str]:
    p = inp.period
    if p is None:  # no profile: charge as the car allows
        b = Bounds(0.0, max(inp.ev.max_charge_w, 0.0))
        return PLANNERS[CHARGING_ONLY](ModeInputs(bounds=b)), ""
    try:
        mode, mi = _mode_inputs(inp, p)
    except CurveError as exc:
        return PLANNERS[IDLE](ModeInputs(bounds=Bounds(0.0, 0.0))), f"idle: {exc}"
    planner = PLANNERS.get(mode)
    if planner is None:  # safety first: a mode we do not know moves no power
        return PLANNERS[IDLE](mi), f"idle: unknown operationMode {mode!r}"
    return planner(mi), ""


def target_for_car(plan: Plan, constraint: GridConstraintReport | None) -> float:
    """The SECC's target: the plan's within hal's grid constraint (zero when the unit
    may not energize)."""
    if constraint is None:
        return plan.target_w
    if constraint.state in ("tripped", "ceased"):
        return 0.0
    return min(max(plan.target_w, constraint.p_min_w), constraint.p_max_w)


def decide(inp: EnergyInputs) -> Decision:
    plan, note = _plan(inp)
    request = PowerRequest(
        inp.evse_id,
        plan.kind,
        plan.setpoint_w,
        plan.lo,
        plan.hi,
        operation_mode=plan.operation_mode,
        baseline_w=plan.baseline_w,
        freq_watt=[{"frequency": f, "power": w} for f, w in plan.freq_watt],
        freq_threshold_hz=_threshold_hz(inp.period, plan.operation_mode),
    )
    return Decision(request, target_for_car(plan, inp.constraint), plan, note)


def _threshold_hz(p: SchedulePeriod | None, mode: str) -> float:
    """Q08 LocalFrequencyUpdateThreshold (mHz) for hal, in Hz (0: every sample)."""
    if mode != LOCAL_FREQUENCY:
        return 0.0
    mhz = (p or {}).get("localFrequencyUpdateThreshold", 0)
    return max(0.0, min(float(mhz), 1000.0)) / 1000.0
