"""The eight OCPP 2.1 operation modes (OperationModeEnumType, Q03-Q10): what hal must do
for one EVSE, from a period already converted to W and the bounds it must stay in.

Every mode ends in a `Plan`: a setpoint or a range for hal, and the target the SECC
gives the car. Only LocalFrequency is executed by hal itself, on every sample (Q08: the
frequency is local, a round trip through evse would be too slow); the others are one
value per decision of evse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from evse.energy.curves import interpolate

IDLE = "Idle"
CHARGING_ONLY = "ChargingOnly"
CENTRAL_SETPOINT = "CentralSetpoint"
EXTERNAL_SETPOINT = "ExternalSetpoint"
EXTERNAL_LIMITS = "ExternalLimits"
CENTRAL_FREQUENCY = "CentralFrequency"
LOCAL_FREQUENCY = "LocalFrequency"
LOCAL_LOAD_BALANCING = "LocalLoadBalancing"
MODES = (
    IDLE,
    CHARGING_ONLY,
    CENTRAL_SETPOINT,
    EXTERNAL_SETPOINT,
    EXTERNAL_LIMITS,
    CENTRAL_FREQUENCY,
    LOCAL_FREQUENCY,
    LOCAL_LOAD_BALANCING,
)


@dataclass(frozen=True, slots=True)
class Bounds:
    """An allowed power range in W (lo <= hi; negative discharges)."""

    lo: float
    hi: float

    def clamp(self, w: float) -> float:
        return min(max(w, self.lo), self.hi)

    def within(self, lo: float | None, hi: float | None) -> Bounds:
        """The intersection with [lo, hi] (None: open); empty collapses to one point."""
        new_lo = self.lo if lo is None else max(self.lo, lo)
        new_hi = self.hi if hi is None else min(self.hi, hi)
        if new_lo > new_hi:  # disjoint: the tighter side wins, never a widening
            new_lo = new_hi = self.clamp(new_hi if hi is not None else new_lo)
        return Bounds(new_lo, new_hi)


@dataclass(frozen=True, slots=True)
class EmsInput:
    """What an external energy management system asks (Q06): a setpoint and/or limits."""

    setpoint_w: float | None = None
    min_w: float | None = None
    max_w: float | None = None


@dataclass(frozen=True, slots=True)
class ModeInputs:
    """One EVSE's inputs in W. `bounds`: the period's limit/dischargeLimit, the EV's
    limits and the allowed energy transfer, already intersected."""

    bounds: Bounds
    setpoint_w: float | None = None  # the period's setpoint (CSMS, Q03/Q04/Q07)
    baseline_w: float = 0.0  # v2xBaseline
    freq_watt: tuple[tuple[float, float], ...] = ()
    afrr_w: float | None = None  # aFRR signal looked up in v2xSignalWattCurve (Q08)
    ems: EmsInput | None = None
    frequency_hz: float | None = None  # the latest measured grid frequency
    site_import_w: float | None = None  # grid meter at the connection point (+ imports)
    own_w: float = 0.0  # this EVSE's power when the grid meter was read
    grid_limit_w: float | None = None  # the connection's limit, both ways (Q09)


@dataclass(frozen=True, slots=True)
class Plan:
    """What hal must do: `kind` "setpoint" (follow setpoint_w) or "limits" (anything in
    [lo, hi]); LocalFrequency adds the baseline and curve hal executes per sample."""

    operation_mode: str
    kind: str
    setpoint_w: float
    lo: float
    hi: float
    target_w: float  # what the car is asked for (the SECC's target)
    baseline_w: float = 0.0
    freq_watt: tuple[tuple[float, float], ...] = ()


def _setpoint(mode: str, b: Bounds, w: float) -> Plan:
    # V2X.05: a setpoint stays within [dischargeLimit, limit] (and the EV's limits).
    w = b.clamp(w)
    return Plan(mode, "setpoint", w, b.lo, b.hi, w)


def _limits(mode: str, b: Bounds) -> Plan:
    # hal takes the top of the range, then its grid functions act within it.
    return Plan(mode, "limits", b.hi, b.lo, b.hi, b.hi)


def idle(i: ModeInputs) -> Plan:
    """Q10: no power either way (evseSleep also turns the electronics off)."""
    return Plan(IDLE, "setpoint", 0.0, 0.0, 0.0, 0.0)


def charging_only(i: ModeInputs) -> Plan:
    """Q02/Q03: charge up to the limit, never discharge."""
    return _limits(CHARGING_ONLY, i.bounds.within(0.0, None))


def central_setpoint(i: ModeInputs) -> Plan:
    """Q03/Q04: follow the CSMS's setpoint (absent: hold at zero)."""
    return _setpoint(CENTRAL_SETPOINT, i.bounds, i.setpoint_w or 0.0)


def external_setpoint(i: ModeInputs) -> Plan:
    """Q05: the external system's setpoint, within the CSMS's limits; until it spoke,
    the period's own setpoint or zero."""
    ems = i.ems.setpoint_w if i.ems is not None else None
    w = ems if ems is not None else (i.setpoint_w or 0.0)
    return _setpoint(EXTERNAL_SETPOINT, i.bounds, w)


def external_limits(i: ModeInputs) -> Plan:
    """Q06: the external system's range, intersected with the CSMS's limits."""
    ems = i.ems or EmsInput()
    return _limits(EXTERNAL_LIMITS, i.bounds.within(ems.min_w, ems.max_w))


def central_frequency(i: ModeInputs) -> Plan:
    """Q07: the CSMS follows the frequency and sends setpoints (UpdateDynamicSchedule);
    with an aFRR signal, baseline + the signal's power (Q08)."""
    w = i.baseline_w + i.afrr_w if i.afrr_w is not None else (i.setpoint_w or 0.0)
    return _setpoint(CENTRAL_FREQUENCY, i.bounds, w)


def local_frequency(i: ModeInputs) -> Plan:
    """Q08: hal executes baseline + freq-watt(f) on every sample within the bounds; the
    baseline carries the aFRR signal's power when there is one. The car's target is the
    value at the latest frequency (at the baseline until one was measured); the request's
    setpoint is the baseline, for hal needs no frequency from us (and a request that moved
    with every measurement would be re-sent all the time)."""
    base = i.baseline_w + (i.afrr_w or 0.0)
    now_w = base + interpolate(i.freq_watt, i.frequency_hz) if i.frequency_hz else base
    lo, hi = i.bounds.lo, i.bounds.hi
    plan = Plan(LOCAL_FREQUENCY, "setpoint", i.bounds.clamp(base), lo, hi, 0.0, base, i.freq_watt)
    return dataclasses.replace(plan, target_w=i.bounds.clamp(now_w))


def local_load_balancing(i: ModeInputs) -> Plan:
    """Q09: from the grid meter at the connection point. Without a setpoint in the period,
    bring the exchange to zero (use local surplus, cover local load by discharging); with
    one, follow it as far as the exchange stays within the connection's limit. Always
    within the period's and the EV's limits. No (valid, fresh) meter reading: hold at zero
    (safe: the station's own power is the one thing it knows leaves the site unchanged)."""
    if i.site_import_w is None:
        return _setpoint(LOCAL_LOAD_BALANCING, i.bounds, 0.0)
    zero = i.own_w - i.site_import_w  # the own power at which the exchange is zero
    if i.setpoint_w is None:
        return _setpoint(LOCAL_LOAD_BALANCING, i.bounds, zero)
    w = i.setpoint_w
    if i.grid_limit_w is not None:  # import and export each at most the limit
        w = min(max(w, zero - i.grid_limit_w), zero + i.grid_limit_w)
    return _setpoint(LOCAL_LOAD_BALANCING, i.bounds, w)


PLANNERS: dict[str, Callable[[ModeInputs], Plan]] = {
    IDLE: idle,
    CHARGING_ONLY: charging_only,
    CENTRAL_SETPOINT: central_setpoint,
    EXTERNAL_SETPOINT: external_setpoint,
    EXTERNAL_LIMITS: external_limits,
    CENTRAL_FREQUENCY: central_frequency,
    LOCAL_FREQUENCY: local_frequency,
    LOCAL_LOAD_BALANCING: local_load_balancing,
}
