"""Simulated devices in process, behind the same interfaces as the real drivers.

Each call first advances the shared world to `clock()`, so the loop sees the physics
of the elapsed time. Used by `devices.mode = "sim"`. Each call first waits the delay the
EVSE's `HangFaults` sets (fault injection: a slow or hung device).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hal.devices.base import (
    DcStageState,
    McuState,
    MeterReading,
    PowerStageRating,
    PowerStageState,
)
from hal.sim.world import SimWorld

Clock = Callable[[], float]


class InProcessMcu:
    def __init__(self, world: SimWorld, evse_id: int, clock: Clock) -> None:
        self.name = f"sim-mcu-{evse_id}"
        self._w = world
        self._ev = world.evses[evse_id]
        self._clock = clock

    async def _late(self) -> None:
        if self._ev.faults.mcu_delay_s > 0.0:
            await asyncio.sleep(self._ev.faults.mcu_delay_s)

    async def read_state(self) -> McuState:
        await self._late()
        self._w.advance(self._clock())
        return self._ev.mcu.state()

    async def set_pwm(self, duty_pct: float) -> None:
        await self._late()
        self._ev.mcu.set_pwm(duty_pct, self._clock())

    async def set_contactor(self, closed: bool, reason: str) -> None:
        await self._late()
        if not closed:
            self._ev.mcu.open_reasons.append(reason)
        self._ev.mcu.request_contactor(closed, self._clock())

    async def set_lock(self, locked: bool) -> None:
        await self._late()
        self._ev.mcu.locked = locked

    async def rcd_command(self, cmd: str) -> None:
        await self._late()
        self._ev.mcu.rcd_command(cmd)

    async def set_trip(
        self, oc_a: float, v_min: float, v_max: float, f_min: float, f_max: float, t_ms: int
    ) -> None:
        await self._late()
        self.trip = {
            "oc_a": oc_a,
            "v_min": v_min,
            "v_max": v_max,
            "f_min": f_min,
            "f_max": f_max,
            "t_ms": t_ms,
        }

    async def keepalive(self) -> None:
        await self._late()
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

    async def _late(self) -> None:
        if self._ev.faults.stage_delay_s > 0.0:
            await asyncio.sleep(self._ev.faults.stage_delay_s)

    async def set_power(self, active_w: float, reactive_var: float) -> None:
        await self._late()
        self._w.advance(self._clock())
        self._ev.stage.command(active_w, reactive_var)

    async def read_state(self) -> PowerStageState:
        await self._late()
        self._w.advance(self._clock())
        s = self._ev.stage
        return PowerStageState(
            s.active_w, s.reactive_var, s.setpoint_w, not s.faults, frozenset(s.faults)
        )

    async def push_protection(self, settings: dict[str, Any]) -> None:
        await self._late()
        if self._ev.faults.push_delay_s > 0.0:
            await asyncio.sleep(self._ev.faults.push_delay_s)
        self.protection = dict(settings)

    async def close(self) -> None:
        self._ev.stage.command(0.0, 0.0)


class InProcessDcOutput:
    """The DC output of the simulated stage (`[sim.dc]`); the stage's delays apply."""

    def __init__(self, world: SimWorld, evse_id: int, clock: Clock) -> None:
        self.name = f"sim-stage-{evse_id}"
        self._w = world
        self._ev = world.evses[evse_id]
        self._clock = clock

    async def set_dc(self, kind: str, target_v: float, target_a: float) -> None:
        if self._ev.faults.stage_delay_s > 0.0:
            await asyncio.sleep(self._ev.faults.stage_delay_s)
        self._w.advance(self._clock())
        assert self._ev.stage.dc is not None  # built only for a stage with a DC output
        self._ev.stage.dc.command(kind, target_v, target_a, self._clock())

    async def read_dc(self) -> DcStageState:
        if self._ev.faults.stage_delay_s > 0.0:
            await asyncio.sleep(self._ev.faults.stage_delay_s)
        self._w.advance(self._clock())
        dc = self._ev.stage.dc
        assert dc is not None
        return DcStageState(dc.kind, dc.present_v, dc.present_a, dc.isolation,
                            dc.precharge_done, dc.welding_v)


class InProcessMeter:
    def __init__(self, world: SimWorld, evse_id: int, clock: Clock) -> None:
        self.name = f"sim-meter-{evse_id}"
        self._w = world
        self._ev = world.evses[evse_id]
        self._clock = clock

    async def read(self) -> MeterReading:
        if self._ev.faults.meter_delay_s > 0.0:
            await asyncio.sleep(self._ev.faults.meter_delay_s)
        sample = self._w.advance(self._clock())
        st = self._ev.stage
        return self._ev.meter.reading(
            sample.voltage_v, sample.frequency_hz, st.active_w, st.reactive_var
        )

    async def close(self) -> None:
        return None


class InProcessGridMeter:
    """The meter at the grid connection point (`[sim.grid_meter]`)."""

    def __init__(self, world: SimWorld, clock: Clock) -> None:
        self.name = "grid-meter"
        self._w = world
        self._clock = clock

    async def read(self) -> MeterReading:
        if self._w.grid_meter_delay_s > 0.0:
            await asyncio.sleep(self._w.grid_meter_delay_s)
        return self._w.grid_meter_reading(self._clock())

    async def close(self) -> None:
        return None
