"""A bidirectional power stage: first-order response to its setpoint, rate-limited,
clamped to its rated charge and discharge power. Delivers power only while enabled
(contactor closed and the stage allowed to run). With a DC output (`[sim.dc]`) the
active power is the DC output's V x A, its current capped by the setpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hal.devices.base import PowerStageRating
from hal.sim.dc_output import SimDcOutput


@dataclass(frozen=True, slots=True)
class PowerStageModel:
    rating: PowerStageRating
    time_constant_s: float  # first-order lag of the current loop
    rate_limit_w_per_s: float  # slew limit of the output


class SimPowerStage:
    def __init__(self, model: PowerStageModel, now: float) -> None:
        self.model = model
        self.setpoint_w = 0.0
        self.reactive_setpoint_var = 0.0
        self.active_w = 0.0
        self.reactive_var = 0.0
        self.enabled = False
        self.faults: set[str] = set()
        self.dc: SimDcOutput | None = None
        self._t = now

    def command(self, active_w: float, reactive_var: float) -> None:
        r = self.model.rating
        self.setpoint_w = min(max(active_w, -r.max_discharge_w), r.max_charge_w)
        self.reactive_setpoint_var = min(max(reactive_var, -r.max_var), r.max_var)

    def advance(self, now: float) -> None:
        dt = now - self._t
        self._t = now
        if dt <= 0.0:
            return
        if not self.enabled:
            # No current flows through an open contactor: the output is zero at once,
            # not a decaying first-order tail (that would show power the meter could
            # never see, and an AC car's target computed from it would be wrong).
            self.active_w = 0.0
            self.reactive_var = 0.0
            if self.dc is not None:  # its voltage side (checks, bleed) goes on; no power
                self.dc.advance(now, 0.0)
            return
        target = self.setpoint_w if self.enabled and not self.faults else 0.0
        q_target = self.reactive_setpoint_var if self.enabled and not self.faults else 0.0
        alpha = 1.0 - math.exp(-dt / self.model.time_constant_s)
        self.reactive_var += (q_target - self.reactive_var) * alpha
        if self.dc is not None:  # the DC output sets the power; hal's setpoint caps it
            self.dc.advance(now, target)
            self.active_w = self.dc.power_w
            return
        step = (target - self.active_w) * alpha
        limit = self.model.rate_limit_w_per_s * dt
        self.active_w += max(-limit, min(limit, step))
