"""The per-EVSE loop on simulated devices and a fake clock: device faults make it safe,
recovery resumes, shutdown leaves power at zero and the contactor open."""

from __future__ import annotations

import asyncio

import pytest

from hal.config import EvseUnitConfig
from hal.devices.base import DeviceError, DeviceSet, McuState
from hal.grid.engine import GridEngine
from hal.grid.settings import GridSettings
from hal.protocol import AllowPowerOn, Event, Message, PilotCommand, PowerRequest
from hal.sim.config import SimConfig
from hal.sim.grid import GridProfile
from hal.sim.inprocess import InProcessMcu, InProcessMeter, InProcessPowerStage
from hal.sim.world import SimWorld
from hal.unit import UnitLoop

UNIT = EvseUnitConfig(1, "dc", 11000.0, 11000.0, 0.0, 3)
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


class FlakyMcu(InProcessMcu):
    """The simulated MCU with a switch that makes reads fail or hang (fault injection)."""

    mode = "ok"

    async def read_state(self) -> McuState:
        if self.mode == "error":
            raise DeviceError(self.name, "CRC error")
        if self.mode == "hang":
            await asyncio.sleep(10)
        return await super().read_state()


class Rig:
    def __init__(self) -> None:
        self.t = 0.0
        self.world = SimWorld(SIM, (UNIT,), self.t)
        self.mcu = FlakyMcu(self.world, 1, self.clock)
        devs = DeviceSet(
            self.mcu,
            InProcessPowerStage(self.world, 1, self.clock),
            InProcessMeter(self.world, 1, self.clock),
        )
        engine = GridEngine(devs.stage.rating, GridSettings(None, 230.0, 50.0))
        self.out: list[Message] = []
        self.loop = UnitLoop(
            UNIT,
            devs,
            engine,
            self.out.append,
            command_timeout_s=0.05,
            ramp_down_s=1.0,
            report_period_s=0.1,
            clock=self.clock,
        )
        self.ev = self.world.evses[1]
        self._next_meter = 0.0

    def clock(self) -> float:
        return self.t

    async def run(self, seconds: float, step: float = 0.02) -> None:
        """Samples on the fake clock; the stage and meter tasks' rounds run in between
        (as their own tasks do in the daemon)."""
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.t += step
            await self.loop.tick(self.t)
            await self.loop.stage_io.step()
            if self.t >= self._next_meter:
                self._next_meter = self.t + 1.0
                await self.loop.meter_io.step()

    def events(self, kind: str) -> list[Event]:
        return [m for m in self.out if isinstance(m, Event) and m.kind == kind]


async def _charging(rig: Rig, watts: float = 8000.0) -> None:
    rig.loop.on_pilot(PilotCommand(1, 5.0))
    rig.loop.on_allow(AllowPowerOn(1, True, "test"))
    rig.loop.on_power_request(PowerRequest(1, "setpoint", watts, 0.0, watts))
    await rig.run(0.5)
    assert rig.ev.mcu.contactor_closed
    assert rig.ev.stage.active_w == pytest.approx(watts, rel=1e-3)


@pytest.mark.parametrize("mode", ["error", "hang"])
def test_device_fault_goes_safe_then_recovers(mode: str) -> None:
    async def scenario() -> None:
        rig = Rig()
        await _charging(rig)
        rig.mcu.mode = mode
        await rig.run(0.1)
        assert rig.ev.stage.setpoint_w == 0.0
        assert not rig.ev.mcu.contactor_requested and not rig.ev.mcu.contactor_closed
        faults = rig.events("fault")
        assert len(faults) == 1 and faults[0].data["device"] == "sim-mcu-1"
        rig.mcu.mode = "ok"
        await rig.run(0.5)
        assert len(rig.events("fault_cleared")) == 1
        assert rig.ev.mcu.contactor_closed
        assert rig.ev.stage.active_w == pytest.approx(8000.0, rel=1e-3)

    asyncio.run(scenario())


def test_shutdown_zeroes_power_and_opens_contactor() -> None:
    async def scenario() -> None:
        rig = Rig()
        await _charging(rig)
        await rig.loop.shutdown()
        assert rig.ev.stage.setpoint_w == 0.0
        assert not rig.ev.mcu.contactor_requested
        rig.t += 0.02
        rig.world.advance(rig.t)
        assert not rig.ev.mcu.contactor_closed

    asyncio.run(scenario())


def test_no_power_without_confirmed_contactor() -> None:
    async def scenario() -> None:
        rig = Rig()
        rig.loop.on_power_request(PowerRequest(1, "setpoint", 5000.0, 0.0, 5000.0))
        await rig.run(0.3)  # no PWM, no allow: state B, contactor open
        assert rig.loop.setpoint_w == 0.0 and rig.ev.stage.setpoint_w == 0.0

    asyncio.run(scenario())


def test_link_loss_ramps_at_rated_over_ramp_down_s() -> None:
    async def scenario() -> None:
        rig = Rig()
        await _charging(rig, 11000.0)
        rig.loop.on_link_lost()
        await rig.run(0.5)  # ramp_down_s = 1.0 from 11 kW: 5.5 kW left after 0.5 s
        assert rig.loop.effective_w == pytest.approx(5500.0, abs=1.0)
        await rig.run(0.6)
        assert rig.loop.effective_w == 0.0
        assert not rig.loop.allow  # held: contactor released until evse asks again

    asyncio.run(scenario())
