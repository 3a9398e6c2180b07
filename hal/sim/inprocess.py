"""Simulated devices in process, behind the same interfaces as the real drivers.

Each call first advances the shared world to `clock()`, so the loop sees the physics
of the elapsed time. Used by `devices.mode = "sim"`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hal.devices.base import McuState, MeterReading, PowerStageRating, PowerStageState
from hal.sim.world import SimWorld

Clock = Callable[[], float]


class InProcessMcu:
    def __init__(self, world: SimWorld, evse_id: int, clock: Clock) -> None:
        self.name = f"sim-mcu-{evse_id}"
        self._w = world
        self._ev = world.evses[evse_id]
        self._clock = clock

    async def read_state(self) -> McuState:
        self._w.advance(self._clock())
        return self._ev.mcu.state()

    async def set_pwm(self, duty_pct: float) -> None:
        self._ev.mcu.set_pwm(duty_pct, self._clock())

    async def set_contactor(self, closed: bool, reason: str) -> None:
        self._ev.mcu.request_contactor(closed, self._clock())

    async def keepalive(self) -> None:
        self._ev.mcu.keepalive(self._clock())

    async def close(self) -> None:
        self._ev.mcu.request_contactor(False, self._clock())


class InProcessPowerStage:
    def __init__(self, world: SimWorld, evse_id: int, clock: Clock) -> None:
        self.name = f"sim-stage-{evse_id}"
        self._w = world
        self._ev = world.evses[evse_id]
        self._clock = clock
        self.rating: PowerStageRating = self._ev.stage.model.rating
        self.protection: dict[str, Any] = {}

    async def set_power(self, active_w: float, reactive_var: float) -> None:
        self._w.advance(self._clock())
        self._ev.stage.command(active_w, reactive_var)

    async def read_state(self) -> PowerStageState:
        self._w.advance(self._clock())
        s = self._ev.stage
        return PowerStageState(
            s.active_w, s.reactive_var, s.setpoint_w, not s.faults, frozenset(s.faults)
        )

    async def push_protection(self, settings: dict[str, Any]) -> None:
        self.protection = dict(settings)

    async def close(self) -> None:
        self._ev.stage.command(0.0, 0.0)


class InProcessMeter:
    def __init__(self, world: SimWorld, evse_id: int, clock: Clock) -> None:
        self.name = f"sim-meter-{evse_id}"
        self._w = world
        self._ev = world.evses[evse_id]
        self._clock = clock

    async def read(self) -> MeterReading:
        sample = self._w.advance(self._clock())
        st = self._ev.stage
        return self._ev.meter.reading(
            sample.voltage_v, sample.frequency_hz, st.active_w, st.reactive_var
        )

    async def close(self) -> None:
        return None
