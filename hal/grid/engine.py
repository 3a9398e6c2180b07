"""The one place the hal loop asks "what may this power stage do right now?".

`GridEngine.step()` is called once per sample with the latest grid measurement and the
power evse requests; it returns the power-stage setpoint and the grid constraint that
hal reports to evse. Pure: no I/O, `now` is passed in, randomness comes from a seeded
source.

Combination order, one decision per sample (docs/grid-functions.md explains it):
 1. Protection: must-trip stages, 10-min mean, power monitoring. A trip opens the
    contactor and sets P = Q = 0 at once; nothing later can undo it, because a
    protection decision must not depend on any setting that follows (IEEE 1547-2018
    6.4 / EN 50549-1 4.9: protection is independent of the control functions).
 2. Momentary cessation: cease to energize (P = 0) while the voltage is beyond the
    cessation curve; the contactor stays closed (ride-through, IEEE 1547 6.4.2.3).
 3. Enter service: after power-up and after a trip, P = 0 until the window has held
    for the delay, then the allowed range opens with the ramp (IEEE 1547 4.10).
 4. Limits: rating, LimitMaxDischarge, volt-watt: caps the grid operator sets.
 5. Active power: evse's request through the normal gradient, or the freq-watt target,
    then the frequency-droop change on top, clamped to the range from 3-4. Droop acts
    inside the limits (a limit is a capability the operator has taken away; IEEE 1547
    6.5.2.7 limits the droop response to the available headroom).
 6. Reactive power: one mode (reactive_power.py), clamped to the unit's var rating.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hal.devices.base import GridSample, PowerStageRating
from hal.grid.alarms import AlarmTracker, GridAlarm
from hal.grid.controls import (
    GradientSpec,
    LimitMaxDischargeSpec,
    MeanSpec,
    Spec,
    TripControl,
)
from hal.grid.curves import interpolate
from hal.grid.directives import directive_id, select_active
from hal.grid.enter_service import EnterService, EnterServiceSpec, Phase
from hal.grid.freq_droop import FreqDroop, FreqDroopSpec
from hal.grid.protection import Protection
from hal.grid.reactive_power import reactive_var
from hal.grid.response import RateLimiter
from hal.grid.settings import GridSettings
from hal.grid.volt_var import VoltVar, VoltVarSpec
from hal.grid.volt_watt import WattCurve, WattCurveSpec, der_pct_to_station_w

__all__ = [
    "DirectiveRejection",
    "GridAlarm",
    "GridConstraint",
    "GridDecision",
    "GridEngine",
    "GridState",
]


class GridState(StrEnum):
    NORMAL = "normal"
    CEASED = "ceased"
    TRIPPED = "tripped"
    ENTERING_SERVICE = "entering_service"


@dataclass(frozen=True, slots=True)
class GridConstraint:
    state: GridState
    p_min_w: float  # most negative allowed (discharge), <= 0 unless a curve forces charging
    p_max_w: float  # most positive allowed (charge)
    q_var: float  # reactive power request, + injects


@dataclass(frozen=True, slots=True)
class GridDecision:
    setpoint_w: float
    reactive_var: float
    contactor_allowed: bool  # False: open the contactors now (trip)
    constraint: GridConstraint
    alarms: tuple[GridAlarm, ...] = ()
    # Set while the unit has ceased because grid samples are missing beyond the grace.
    blind_reason: str | None = None


@dataclass(frozen=True, slots=True)
class DirectiveRejection:
    directive_id: str
    reason: str


def default_enter_service(nominal_hz: float) -> EnterServiceSpec:
    """Used when neither preset nor directive sets one: EN 50549-1 4.10 defaults."""
    return EnterServiceSpec(85.0, 110.0, nominal_hz * 0.998, nominal_hz * 1.002, 60.0, 0.0, 0.0)


class GridEngine:
    def __init__(
        self,
        rating: PowerStageRating,
        settings: GridSettings,
        rng: random.Random | None = None,
        sample_grace: int = 3,
    ) -> None:
        self._rating = rating
        self._sample_grace = sample_grace  # missing samples tolerated before ceasing
        self._missing = 0
        self._blind = False
        self._settings = settings
        self._rng = rng if rng is not None else random.Random(settings.random_seed)
        self._directives: list[Mapping[str, Any]] = []
        self._controls: dict[str, Spec] = {}
        self._built: dict[str, object] = {}
        self._protection = Protection()
        self._alarms = AlarmTracker()
        self._enter: EnterService | None = None
        self._droop: FreqDroop | None = None
        self._volt_var: VoltVar | None = None
        self._volt_watt: WattCurve | None = None
        self._freq_watt: WattCurve | None = None
        self._gradient = RateLimiter(0.0)
        self._tripped = False
        self._trip_type = ""
        self.state = GridState.ENTERING_SERVICE  # power-up counts as entering service
        self._configure(dict(settings.controls))
        if "EnterService" not in self._controls and self._enter is not None:
            # No grid code asks for power-up conditions: start at once. A trip still
            # waits for the default reconnection conditions (default_enter_service).
            self._enter.phase = Phase.IN_SERVICE
            self.state = GridState.NORMAL

    @property
    def directives(self) -> Sequence[Mapping[str, Any]]:
        return tuple(self._directives)

    @property
    def controls(self) -> Mapping[str, Spec]:
        """The controls in force: the preset, overridden per type by directives."""
        return dict(self._controls)

    def set_directives(
        self, directives: Sequence[Mapping[str, Any]], now: float
    ) -> list[DirectiveRejection]:
        """Replace the full set of active DER directives; return the ones refused."""
        chosen, rejected = select_active(directives, self._settings.nominal_frequency_hz)
        applied_ids = {p.id for p in chosen.values()}
        self._directives = [
            d for d in directives if directive_id(d) in applied_ids
        ]
        controls = dict(self._settings.controls)
        controls.update({ct: p.spec for ct, p in chosen.items()})
        self._configure(controls)
        return [DirectiveRejection(i, r) for i, r in rejected]

    def _configure(self, controls: dict[str, Spec]) -> None:
        self._controls = controls
        s = self._settings
        self._protection.configure(controls, self._mean_spec(controls))
        es = controls.get("EnterService")
        es_spec = (
            es
            if isinstance(es, EnterServiceSpec)
            else default_enter_service(s.nominal_frequency_hz)
        )
        gr = controls.get("Gradients")
        if es_spec.ramp_s <= 0.0 and isinstance(gr, GradientSpec) and gr.soft_gradient_s > 0:
            es_spec = _with_ramp(es_spec, gr.soft_gradient_s)
        if self._changed("EnterService", es_spec) or self._enter is None:
            old = self._enter
            self._enter = EnterService(es_spec, self._rng)
            if old is not None and old.phase is Phase.IN_SERVICE:
                self._enter.phase = Phase.IN_SERVICE  # a new window does not disconnect
        rated = max(self._rating.max_charge_w, self._rating.max_discharge_w)
        full = rated / gr.gradient_s if isinstance(gr, GradientSpec) and gr.gradient_s > 0 else 0.0
        self._gradient.rate_per_s = full
        fd = controls.get("FreqDroop")
        if self._changed("FreqDroop", fd):
            self._droop = (
                FreqDroop(fd, s.nominal_frequency_hz, self._droop_rating(), s.droop_reference)
                if isinstance(fd, FreqDroopSpec)
                else None
            )
        vv = controls.get("VoltVar")
        if self._changed("VoltVar", vv):
            self._volt_var = VoltVar(vv) if isinstance(vv, VoltVarSpec) else None
        vw = controls.get("VoltWatt")
        if self._changed("VoltWatt", vw):
            self._volt_watt = WattCurve(vw, 100.0) if isinstance(vw, WattCurveSpec) else None
        fw = controls.get("FreqWatt")
        if self._changed("FreqWatt", fw):
            self._freq_watt = WattCurve(fw, 0.0) if isinstance(fw, WattCurveSpec) else None

    def _droop_rating(self) -> float:
        """The P_rated of the droop formula: the unit's nameplate active power as a
        generator, i.e. its discharge rating, in both directions (IEEE 1547-2018 3.1
        "nameplate rating" and 6.5.2.7: the change is in per unit of the nameplate
        active power rating; EPRI OpenDER does the same with NP_P_MAX and keeps the
        charge rating only as a limit). A charge-only unit has no generating rating:
        its charge rating stands in. With `droop_reference = "activation"` (VDE-AR-N
        4105 / EN 50549-1 LFSM) this is only the cap on the captured reference."""
        r = self._rating
        return r.max_discharge_w if r.max_discharge_w > 0 else r.max_charge_w

    def _changed(self, name: str, spec: object) -> bool:
        if name in self._built and self._built[name] == spec:
            return False
        self._built[name] = spec
        return True

    def _mean_spec(self, controls: Mapping[str, Spec]) -> MeanSpec | None:
        for ct in ("HVMustTrip", "HVMayTrip", "HVMomCess"):
            spec = controls.get(ct)
            if isinstance(spec, TripControl) and spec.mean is not None:
                return spec.mean
        return self._settings.mean_overvoltage

    def step(
        self, now: float, sample: GridSample | None, requested_w: float, measured_w: float
    ) -> GridDecision:
        r = self._rating
        alarms: list[GridAlarm] = []
        # Inputs from evse and the stage are bounded to the unit's range (NaN -> 0), so
        # no filter downstream can ever see an infinity.
        requested_w = _bounded(requested_w, -r.max_discharge_w, r.max_charge_w)
        measured_w = _bounded(measured_w, -r.max_discharge_w, r.max_charge_w)
        if sample is None or not sample.voltage_v:
            return self._no_sample(requested_w)
        if self._blind:
            # Samples are back: re-enter service by the normal rules (the window must
            # hold for the delay, then the ramp), as after a trip (IEEE 1547 4.10).
            self._blind = False
            assert self._enter is not None
            self._enter.restart()
            self._gradient.reset(0.0, sample.t)
        self._missing = 0
        # Timers run on the measurement's own timestamp: the sample may be taken a little
        # after the loop's tick started, and an excursion must not be timed from before
        # it was measured (never trip early).
        t = sample.t
        nominal_v = self._settings.nominal_voltage_v
        v_pct = tuple(v / nominal_v * 100.0 for v in sample.voltage_v)
        f = sample.frequency_hz
        discharge_pct = (
            max(0.0, -measured_w) / r.max_discharge_w * 100.0 if r.max_discharge_w else 0.0
        )

        # 1. Protection.
        prot = self._protection.update(v_pct, f, discharge_pct, t)
        fired = prot.trip is not None and not self._tripped
        if prot.trip is not None and fired:
            self._tripped = True
            self._trip_type = prot.trip.control_type
            self._protection.after_trip()
            assert self._enter is not None
            self._enter.restart()
            self._gradient.reset(0.0, t)
            self._alarms.set(prot.trip.control_type, True, prot.trip.fault, prot.trip.extra, alarms)
        assert self._enter is not None
        fraction = self._enter.update(v_pct, f, t)
        if self._tripped and not fired and self._enter.phase is not Phase.WAITING:
            # Enter-service conditions held for the delay: the fault is over.
            self._tripped = False
            self._alarms.set(self._trip_type, False, "", "", alarms)

        # Curve functions see every sample so their filters stay continuous.
        v_avg = sum(v_pct) / len(v_pct)
        vv_pct = self._volt_var.update(v_avg, t) if self._volt_var else None
        vw_pct = self._volt_watt.update(max(v_pct), t) if self._volt_watt else None
        fw_pct = self._freq_watt.update(f, t) if self._freq_watt else None
        droop_w = self._droop.update(f, measured_w, t) if self._droop else 0.0

        if self._tripped:
            self.state = GridState.TRIPPED
            self._function_alarms(f, alarms, active=False)
            return self._decision(0.0, 0.0, False, 0.0, 0.0, 0.0, alarms)

        # 2. Momentary cessation.
        for ct in ("HVMomCess", "LVMomCess"):
            fault = "OverVoltage" if ct == "HVMomCess" else "UnderVoltage"
            self._alarms.set(ct, ct in prot.ceased, fault, "momentary cessation", alarms)
        if prot.ceased:
            self.state = GridState.CEASED
            self._gradient.reset(0.0, t)
            self._function_alarms(f, alarms, active=False)
            q = 0.0
            if prot.reactive_during_cessation and vv_pct is not None:
                q = vv_pct / 100.0 * r.max_var
            return self._decision(0.0, q, True, 0.0, 0.0, q, alarms)

        # 3. Enter-service gate and ramp.
        self.state = GridState.NORMAL if fraction >= 1.0 else GridState.ENTERING_SERVICE
        lo = -r.max_discharge_w * fraction
        hi = r.max_charge_w * fraction

        # 4. Limits.
        lmd = self._controls.get("LimitMaxDischarge")
        if isinstance(lmd, LimitMaxDischargeSpec) and lmd.pct is not None:
            lo = max(lo, -lmd.pct / 100.0 * r.max_discharge_w)
        if vw_pct is not None:
            lo = max(lo, der_pct_to_station_w(vw_pct, r.max_charge_w, r.max_discharge_w))
        lo = min(lo, hi)

        # 5. Active power: request (or freq-watt target) + droop, clamped.
        if fw_pct is not None:
            base = der_pct_to_station_w(fw_pct, r.max_charge_w, r.max_discharge_w)
            droop_w = 0.0  # freq-watt already answers the frequency; never count it twice
        else:
            base = self._gradient.update(requested_w, t)
        setpoint = min(max(base + droop_w, lo), hi)
        p_min, p_max = lo, hi
        if droop_w < 0.0:
            p_max = min(p_max, setpoint)  # evse (AC) must not charge above the droop point
        elif droop_w > 0.0:
            p_min = max(p_min, setpoint)
        self._function_alarms(f, alarms, active=True)

        # 6. Reactive power.
        rated_der = r.max_discharge_w if setpoint <= 0.0 else r.max_charge_w
        p_der_pct = -setpoint / rated_der * 100.0 if rated_der > 0 else 0.0
        _, q = reactive_var(self._controls, setpoint, p_der_pct, vv_pct, r.max_var)
        return self._decision(setpoint, q, True, p_min, p_max, q, alarms)

    def _function_alarms(self, f: float, alarms: list[GridAlarm], active: bool) -> None:
        droop = self._droop
        on = active and droop is not None and droop.active
        fault = "OverFrequency" if droop is not None and droop.direction > 0 else "UnderFrequency"
        self._alarms.set("FreqDroop", on, fault, "frequency droop", alarms)
        vw = self._volt_watt
        on = active and vw is not None and vw.target_pct < vw.spec.points[0][1] - 1e-9
        self._alarms.set("VoltWatt", on, "OverVoltage", "volt-watt limit", alarms)
        fw = self._freq_watt
        if fw is not None:
            nominal = self._settings.nominal_frequency_hz
            flat = interpolate(fw.spec.points, nominal)
            on = active and abs(fw.target_pct - flat) > 1e-9
            fault = "OverFrequency" if f > nominal else "UnderFrequency"
            self._alarms.set("FreqWatt", on, fault, "frequency-watt", alarms)

    def _no_sample(self, requested_w: float) -> GridDecision:
        """No grid measurement: nothing can be checked. A few missing samples (a lost
        frame) are ridden through at the last limits; beyond `sample_grace` the unit
        ceases to energize and opens its contactor: no measurement, no protection."""
        self._missing += 1
        if self._missing > self._sample_grace or self._blind:
            self._blind = True
            self.state = GridState.CEASED
            reason = f"no grid sample for {self._missing} samples"
            d = self._decision(0.0, 0.0, False, 0.0, 0.0, 0.0, [])
            return GridDecision(d.setpoint_w, 0.0, False, d.constraint, (), reason)
        r = self._rating
        if self._tripped or self.state is not GridState.NORMAL:
            return self._decision(0.0, 0.0, not self._tripped, 0.0, 0.0, 0.0, [])
        lo, hi = -r.max_discharge_w, r.max_charge_w
        return self._decision(min(max(requested_w, lo), hi), 0.0, True, lo, hi, 0.0, [])

    def _decision(
        self,
        setpoint: float,
        q: float,
        contactor: bool,
        p_min: float,
        p_max: float,
        q_req: float,
        alarms: list[GridAlarm],
    ) -> GridDecision:
        constraint = GridConstraint(self.state, p_min, p_max, q_req)
        return GridDecision(setpoint, q, contactor, constraint, tuple(alarms))


def _bounded(x: float, lo: float, hi: float) -> float:
    return (
        min(max(x, lo), hi)
        if math.isfinite(x)
        else (0.0 if math.isnan(x) else (hi if x > 0 else lo))
    )


def _with_ramp(spec: EnterServiceSpec, ramp_s: float) -> EnterServiceSpec:
    return EnterServiceSpec(
        spec.low_voltage_pct,
        spec.high_voltage_pct,
        spec.low_freq_hz,
        spec.high_freq_hz,
        spec.delay_s,
        spec.random_delay_s,
        ramp_s,
    )
