"""The MCU driver against the simulated MCU over a real pty: commands, status, keep-alive,
and the line faults the issue names (garbage, CRC errors, split frames, silence)."""

from __future__ import annotations

import asyncio
import time

import pytest
from devsim_helpers import make_world, run, wait_for

from hal.devices.base import CpState, DeviceError
from hal.devices.mcu_link import messages as m
from hal.devices.mcu_link.serial_mcu import McuLinkSettings, SerialMcu
from hal.sim.transports.mcu_server import SimMcuServer
from hal.sim.world import SimWorld

FAST = dict(
    keepalive_interval_s=0.05,
    mcu_keepalive_timeout_s=0.3,
    status_period_s=0.01,
    link_timeout_s=0.15,
    command_timeout_s=0.2,
)


async def _open(world: SimWorld) -> tuple[SimMcuServer, SerialMcu]:
    server = SimMcuServer(world, 1)
    await server.start()
    mcu = SerialMcu("mcu-1", McuLinkSettings(server.path, **FAST))  # type: ignore[arg-type]
    await mcu.open()
    return server, mcu


async def _pump(mcu: SerialMcu, seconds: float) -> None:
    """The control loop's part: keep-alives, while time passes."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await mcu.keepalive()
        await asyncio.sleep(0.01)


def test_hello_status_and_commands_over_pty() -> None:
    async def main() -> None:
        world = make_world()
        server, mcu = await _open(world)
        try:
            assert mcu.hello_reply == {"proto": 1, "fw": "sim-mcu 1.0", "phases": 3}
            # HELLO configured the MCU's own keep-alive timeout and status period.
            assert world.evses[1].mcu.model.keepalive_timeout_s == pytest.approx(0.3)
            assert server.status_period_s == pytest.approx(0.01)
            await _pump(mcu, 0.05)
            s = await mcu.read_state()
            assert s.cp_state is CpState.B and s.pp_ampacity_a == 32.0
            assert s.grid is not None and s.grid.voltage_v == (230.0, 230.0, 230.0)
            assert s.grid.frequency_hz == 50.0
            await mcu.set_pwm(53.33)
            assert world.evses[1].mcu.pwm_duty_pct == pytest.approx(53.33)
            await mcu.set_contactor(True, "charging")
            await mcu.set_lock(True)
            await mcu.set_trip(32.0, 184.0, 264.5, 47.5, 51.5, 100)
            assert server.trip == {
                "oc_a": 32.0,
                "v_min": 184.0,
                "v_max": 264.5,
                "f_min": 47.5,
                "f_max": 51.5,
                "t_ms": 100,
            }

            async def closed() -> bool:
                await mcu.keepalive()
                return (await mcu.request_state()).contactor_closed

            await wait_for(closed)
            s = await mcu.read_state()
            assert s.cp_state is CpState.C and s.pwm_duty_pct == pytest.approx(53.33)
            await _pump(mcu, 0.12)  # no commands: plain keep-alives go out
            kinds = [msg.kind for msg in server.received]
            assert m.SET_PWM in kinds and m.ALLOW_POWER in kinds and m.KEEPALIVE in kinds
        finally:
            await mcu.close()
            await server.stop()

    run(main())


def test_mcu_opens_contactor_itself_when_keepalive_stops() -> None:
    async def main() -> None:
        world = make_world()
        server, mcu = await _open(world)
        try:
            await mcu.set_pwm(50.0)
            await mcu.set_contactor(True, "charging")
            await _pump(mcu, 0.15)
            assert (await mcu.read_state()).contactor_closed
            # hal hangs: no keep-alives (and no commands) for longer than 0.3 s. The MCU
            # still sends status, so the link is up and the driver reads the open contactor.
            async def opened() -> bool:  # hal sends nothing: the MCU must act alone
                return not (await mcu.read_state()).contactor_closed

            await wait_for(opened)
            assert not world.evses[1].mcu.contactor_closed
        finally:
            await mcu.close()
            await server.stop()

    run(main())


def test_link_survives_garbage_crc_errors_and_split_frames() -> None:
    async def main() -> None:
        world = make_world()
        server, mcu = await _open(world)
        try:
            server.faults.garbage = b"\x13\x37\xde\xad\x00\xbe\xef"
            server.faults.corrupt_crc = 3
            await _pump(mcu, 0.1)
            server.faults.split = True
            await _pump(mcu, 0.1)
            await mcu.set_pwm(40.0)  # a command round trip with split replies
            s = await mcu.request_state()
            assert s.pwm_duty_pct == pytest.approx(40.0)
            errors = mcu.line_errors
            # The garbage (with a 0x00 inside) lands in front of the first corrupted frame:
            # two COBS errors, then two clean CRC errors; everything after decodes.
            assert errors.get("crc", 0) >= 2
            assert sum(errors.values()) >= 4
            server.faults.split = False
            await _pump(mcu, 0.05)
            assert (await mcu.read_state()).grid is not None
        finally:
            await mcu.close()
            await server.stop()

    run(main())


def test_silent_mcu_is_a_device_fault_and_recovers() -> None:
    async def main() -> None:
        world = make_world()
        server, mcu = await _open(world)
        try:
            await _pump(mcu, 0.05)
            server.faults.silent = True
            await _pump(mcu, 0.25)
            with pytest.raises(DeviceError) as err:
                await mcu.read_state()
            assert err.value.device == "mcu-1" and "no valid frame" in err.value.reason
            with pytest.raises(DeviceError) as err:
                await mcu.set_pwm(30.0)
            assert err.value.device == "mcu-1"
            server.faults.silent = False

            async def back() -> bool:
                try:
                    await mcu.keepalive()
                    await mcu.read_state()
                    return True
                except DeviceError:
                    return False

            await wait_for(back)
            await mcu.set_pwm(30.0)  # re-greeted after the silence, commands work again
            assert world.evses[1].mcu.pwm_duty_pct == pytest.approx(30.0)
            hellos = [msg for msg in server.received if msg.kind == m.HELLO]
            assert len(hellos) >= 2
        finally:
            await mcu.close()
            await server.stop()

    run(main())


def test_slow_mcu_times_out_with_reason() -> None:
    async def main() -> None:
        world = make_world()
        server, mcu = await _open(world)
        try:
            server.faults.delay_s = 0.5
            with pytest.raises(DeviceError) as err:
                await mcu.set_pwm(20.0)
            assert "timeout" in err.value.reason and "set_pwm" in err.value.reason
        finally:
            server.faults.clear()
            await mcu.close()
            await server.stop()

    run(main())


def test_refused_command_is_a_device_error() -> None:
    async def main() -> None:
        world = make_world()
        server, mcu = await _open(world)
        try:
            world.evses[1].mcu.rcd_tripped = True
            with pytest.raises(DeviceError, match="allow_power refused"):
                await mcu.set_contactor(True, "charging")
            await mcu.rcd_command("reset")
            assert not world.evses[1].mcu.rcd_tripped
        finally:
            await mcu.close()
            await server.stop()

    run(main())


def test_missing_port_is_retried_with_backoff() -> None:
    async def main() -> None:
        mcu = SerialMcu("mcu-9", McuLinkSettings("/dev/nonexistent-tty", **FAST))  # type: ignore[arg-type]
        with pytest.raises(DeviceError, match="cannot open"):
            await mcu.read_state()
        with pytest.raises(DeviceError, match="retry in"):
            await mcu.read_state()  # fails fast while the backoff runs

    run(main())
