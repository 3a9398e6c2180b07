"""A UnitLoop on simulated in-process devices and a fake clock (shared by the unit tests
of the hal loop). The stage and meter tasks' rounds run between samples, as their own
tasks do in the daemon."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from typing import Any

from hal.config import EvseUnitConfig
from hal.devices.base import DeviceError, DeviceSet, McuState
from hal.grid.engine import GridEngine
from hal.grid.settings import GridSettings
from hal.protocol import AllowPowerOn, Event, Measurement, Message, PilotCommand, PowerRequest
from hal.sim.config import SimConfig
from hal.sim.grid import GridProfile
from hal.sim.inprocess import InProcessMcu, InProcessMeter, InProcessPowerStage
from hal.sim.world import SimWorld
from hal.unit import UnitLoop

SIM = SimConfig(
    grid=GridProfile(230.0, 50.0, 3, ()),
    stage_time_constant_s=0.01,
    stage_rate_limit_w_per_s=1e6,
    plug_in_at_s=0.0,
    unplug_at_s=None,
    pp_ampacity_a=32.0,
    contactor_delay_s=0.0,
    mcu_keepalive_timeout_s=2.0,
)


class ScriptedMcu(InProcessMcu):
    """The simulated MCU with switches: reads fail / hang / lose the grid sample, or every
    call fails (a dead link). Records the stage's power whenever hal asks to open."""

    mode = "ok"
    opened_at_w: list[float]

    async def read_state(self) -> McuState:
        if self.mode in ("error", "dead"):
            raise DeviceError(self.name, "CRC error")
        if self.mode == "hang":
            await asyncio.sleep(10)
        st = await super().read_state()
        return dataclasses.replace(st, grid=None) if self.mode == "blind" else st

    async def set_contactor(self, closed: bool, reason: str) -> None:
        if self.mode == "dead":
            raise DeviceError(self.name, "CRC error")
        if not closed:
            self.opened_at_w.append(self._ev.stage.active_w)
        await super().set_contactor(closed, reason)


class Rig:
    def __init__(
        self,
        kind: str = "dc",
        sim: SimConfig = SIM,
        report_period_s: float = 0.1,
        **loop_kw: Any,
    ) -> None:
        self.t = 0.0
        self.unit = EvseUnitConfig(1, kind, 11000.0, 11000.0, 0.0, 3)
        self.world = SimWorld(sim, (self.unit,), self.t)
        self.mcu = ScriptedMcu(self.world, 1, self.clock)
        self.mcu.opened_at_w = []
        devs = DeviceSet(
            self.mcu,
            InProcessPowerStage(self.world, 1, self.clock),
            InProcessMeter(self.world, 1, self.clock),
        )
        self.engine = GridEngine(devs.stage.rating, GridSettings(None, 230.0, 50.0))
        self.out: list[Message] = []
        self.loop = UnitLoop(
            self.unit,
            devs,
            self.engine,
            self.out.append,
            command_timeout_s=0.05,
            ramp_down_s=1.0,
            report_period_s=report_period_s,
            **loop_kw,
            **self._clock_kw(),
        )
        self.ev = self.world.evses[1]
        self._next_meter = 0.0

    def _clock_kw(self) -> dict[str, Any]:
        # The loop reads this clock for its own timers (older versions had none).
        return {"clock": self.clock} if "clock" in inspect.signature(UnitLoop).parameters else {}

    def clock(self) -> float:
        return self.t

    async def run(self, seconds: float, step: float = 0.02) -> None:
        end = self.t + seconds
        stage_io = getattr(self.loop, "stage_io", None)
        meter_io = getattr(self.loop, "meter_io", None)
        while self.t < end - 1e-9:
            self.t += step
            await self.loop.tick(self.t)
            if stage_io is not None:
                await stage_io.step()
            if meter_io is not None and self.t >= self._next_meter:
                self._next_meter = self.t + 1.0
                await meter_io.step()

    def events(self, kind: str, device: str | None = None) -> list[Event]:
        return [
            m
            for m in self.out
            if isinstance(m, Event)
            and m.kind == kind
            and (device is None or m.data.get("device") == device)
        ]

    def measurements(self) -> list[Measurement]:
        return [m for m in self.out if isinstance(m, Measurement)]

    async def charging(self, watts: float = 8000.0, settle_s: float = 1.0) -> None:
        self.loop.on_pilot(PilotCommand(1, 5.0))
        self.loop.on_allow(AllowPowerOn(1, True, "test"))
        lo, hi = sorted((0.0, watts))
        self.loop.on_power_request(PowerRequest(1, "setpoint", watts, lo, hi))
        await self.run(settle_s)
        assert self.ev.mcu.contactor_closed
        assert abs(self.ev.stage.active_w - watts) < 0.01 * abs(watts)
