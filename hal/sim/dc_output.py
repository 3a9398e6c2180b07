"""The DC output of a simulated DC power stage, with the car's battery behind it.

Commands (hal.protocol.DC_KINDS): `cable_check` runs an isolation check that takes
`isolation_check_s` at `cable_check_v` and ends with the configured result; `precharge`
ramps the output to the target at `precharge_v_per_s` with no current; `deliver` has the
car's contactors closed: the voltage is the battery's, the current follows the target
(first-order lag) within the stage's and the car's limits and the power hal allows
(`cap_w`: the grid-constrained setpoint, zero when the contactor is not flowing); `off`
and `welding_check` stop the current and let the output decay through the bleeder (a
welded car contactor keeps the battery voltage on it). `off` forgets the isolation
result, so a new session never sees an old one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hal.sim.ev_battery import SimEvBattery


@dataclass(frozen=True, slots=True)
class DcOutputModel:
    max_v: float = 920.0
    max_a: float = 200.0
    isolation_check_s: float = 1.0
    isolation_result: str = "valid"  # valid | warning | fault (a test sets fault)
    cable_check_v: float = 500.0
    precharge_v_per_s: float = 400.0
    current_time_constant_s: float = 0.05
    bleed_time_constant_s: float = 0.2
    welded: bool = False  # the car's contactor is welded shut


class SimDcOutput:
    def __init__(self, model: DcOutputModel, battery: SimEvBattery, now: float) -> None:
        self.model = model
        self.battery = battery
        self.kind = "off"
        self.target_v = 0.0
        self.target_a = 0.0
        self.present_v = 0.0
        self.present_a = 0.0
        self.isolation = "unknown"
        self.precharge_done = False
        self.welding_v: float | None = None
        self._since = now
        self._t = now

    @property
    def power_w(self) -> float:
        return self.present_v * self.present_a

    def command(self, kind: str, target_v: float, target_a: float, now: float) -> None:
        if kind != self.kind:
            self._since = now
            if kind == "cable_check":
                self.isolation = "ongoing"
            elif kind == "off":
                self.isolation = "unknown"
            if kind != "precharge":
                self.precharge_done = False
        self.kind = kind
        self.target_v = min(max(target_v, 0.0), self.model.max_v)
        self.target_a = target_a
        self.welding_v = None if kind != "welding_check" else self.welding_v

    def _current_target(self, volts: float, cap_w: float) -> float:
        """The wish cut to the stage's rating, the car's BMS and the power hal allows."""
        ch, dis = self.battery.current_limits()
        v = max(volts, 1.0)
        if self.target_a >= 0.0:
            return min(self.target_a, self.model.max_a, ch, max(cap_w, 0.0) / v)
        return -min(-self.target_a, self.model.max_a, dis, max(-cap_w, 0.0) / v)

    def advance(self, now: float, cap_w: float) -> None:
        dt = now - self._t
        self._t = now
        if dt <= 0.0:
            return
        m = self.model
        want_a = 0.0
        if self.kind == "deliver":
            want_a = self._current_target(self.battery.terminal_v(self.present_a), cap_w)
        lag = 1.0 - math.exp(-dt / m.current_time_constant_s)
        self.present_a += (want_a - self.present_a) * lag
        if self.kind != "deliver" and abs(self.present_a) < 1e-3:
            self.present_a = 0.0
        if self.kind == "deliver":
            self.present_v = self.battery.terminal_v(self.present_a)
        elif self.kind in ("cable_check", "precharge"):
            goal = m.cable_check_v if self.kind == "cable_check" else self.target_v
            step = m.precharge_v_per_s * dt
            self.present_v += max(-step, min(step, goal - self.present_v))
        elif m.welded:
            self.present_v = self.battery.open_circuit_v()
        else:
            self.present_v *= math.exp(-dt / m.bleed_time_constant_s)
        if self.kind == "cable_check" and self.isolation == "ongoing" and (
            now - self._since >= m.isolation_check_s
        ):
            self.isolation = m.isolation_result
        if self.kind == "precharge":
            close = max(5.0, 0.01 * self.target_v)
            self.precharge_done = abs(self.present_v - self.target_v) <= close
        if self.kind == "welding_check":
            self.welding_v = self.present_v
        self.battery.advance(dt, self.power_w)
