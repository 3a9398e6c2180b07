"""The hal daemon on simulated devices behind real transports (`devices.mode =
"sim-transports"`): each injected device fault makes hal go safe (power to zero, contactor
open), reaches evse as a fault event naming the device and the reason, and clears when the
device answers again, after which power resumes. A meter fault also takes the power to
zero, but the contactor stays closed: the meter is not protection-relevant (protection
uses the MCU's fast grid measurement)."""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from devsim_helpers import run

from hal import protocol as p
from hal.config import parse_hal
from hal.config_reader import Table
from hal.daemon import HalDaemon
from hal.sdnotify import Notifier
from hal.sim.transports.runner import SimEvseServers
from tests.conftest import WAIT_S
from tests.integration.hal_inproc import Client as Evse

CONFIG = """
[hal]
socket = "{dir}/hal.sock"
state_dir = "{dir}/state"
period_ms = 20
keepalive_timeout_s = 5.0
report_period_ms = 50
[[evse]]
id = 1
kind = "dc"
max_charge_w = 11000.0
max_discharge_w = 11000.0
max_var = 6000.0
[devices]
mode = "sim-transports"
command_timeout_s = 0.25
sim_transports = {{ meter = "rtu", stage = "tcp" }}
[sim.ev]
plug_in_at_s = 0.0
[sim.power_stage]
time_constant_s = 0.02
rate_limit_w_per_s = 1000000.0
[sim.mcu]
contactor_delay_s = 0.01
keepalive_timeout_s = 0.4
"""


async def until(
    pred: Callable[[], bool], within_s: float, what: str, evse: Evse | None = None
) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > within_s:
            seen = (
                [(e.kind, e.data) for e in evse.messages if isinstance(e, p.Event)] if evse else []
            )
            raise AssertionError(f"not within {within_s} s: {what}; events {seen}")
        await asyncio.sleep(0.01)
    return time.monotonic() - t0


Inject = Callable[[SimEvseServers], Awaitable[None] | None]


async def _call(f: Inject, ev: SimEvseServers) -> None:
    res = f(ev)
    if res is not None:
        await res


def _mcu_silent(ev: SimEvseServers) -> None:
    ev.mcu.faults.silent = True


def _mcu_back(ev: SimEvseServers) -> None:
    ev.mcu.faults.silent = False


def _mcu_crc(ev: SimEvseServers) -> None:
    ev.mcu.faults.corrupt_crc = 10**9


def _mcu_crc_off(ev: SimEvseServers) -> None:
    ev.mcu.faults.corrupt_crc = 0


def _mcu_restart(ev: SimEvseServers) -> None:
    ev.mcu.restart()


def _nothing(ev: SimEvseServers) -> None:
    return None


def _stage_slow(ev: SimEvseServers) -> None:
    ev.stage_faults.delay_s = 1.0


def _stage_exc(ev: SimEvseServers) -> None:
    ev.stage_faults.exception_code = 4


def _stage_ok(ev: SimEvseServers) -> None:
    ev.stage_faults.clear()


async def _stage_vanish(ev: SimEvseServers) -> None:
    await ev.stage_server.vanish()


async def _stage_back(ev: SimEvseServers) -> None:
    await ev.stage_server.come_back()


def _meter_crc(ev: SimEvseServers) -> None:
    ev.meter_faults.corrupt_crc = 10**9


def _meter_ok(ev: SimEvseServers) -> None:
    ev.meter_faults.clear()


async def _meter_vanish(ev: SimEvseServers) -> None:
    await ev.meter_server.vanish()


async def _meter_back(ev: SimEvseServers) -> None:
    await ev.meter_server.come_back()


# A server that vanishes: refused at the next connect, or lost mid-request (TCP); an RTU
# line simply falls silent.
_GONE_TCP = r"cannot connect to tcp:|connection lost"
_GONE_RTU = r"no valid answer within|cannot connect to rtu:"

CASES = [
    # name, inject, clear, device, reason (a regular expression), protection-relevant
    ("mcu_vanishes", _mcu_silent, _mcu_back, "mcu-1", "no valid frame", True),
    ("mcu_crc_errors", _mcu_crc, _mcu_crc_off, "mcu-1", "crc", True),
    ("mcu_restarts", _mcu_restart, _nothing, "mcu-1", "MCU restarted", True),
    ("stage_timeout", _stage_slow, _stage_ok, "stage-1", "(no valid )?answer within", True),
    ("stage_exception_code", _stage_exc, _stage_ok, "stage-1", "exception code 4", True),
    ("stage_vanishes", _stage_vanish, _stage_back, "stage-1", _GONE_TCP, True),
    ("meter_crc_errors", _meter_crc, _meter_ok, "meter-1", "timeout", False),
    ("meter_vanishes", _meter_vanish, _meter_back, "meter-1", _GONE_RTU, False),
]


@pytest.mark.parametrize(
    ("name", "inject", "clear", "device", "reason", "protective"), CASES, ids=[c[0] for c in CASES]
)
def test_device_fault_safe_state_event_and_recovery(
    name: str, inject: Inject, clear: Inject, device: str, reason: str, protective: bool
) -> None:
    with tempfile.TemporaryDirectory(prefix="evse-") as d:
        cfg = parse_hal(Table(tomllib.loads(CONFIG.format(dir=d)), ""), Path(d))
        run(_scenario(cfg, inject, clear, device, reason, protective))


async def _scenario(
    cfg: object, inject: Inject, clear: Inject, device: str, reason: str, protective: bool
) -> None:
    from hal.config import HalConfig

    assert isinstance(cfg, HalConfig)
    daemon = HalDaemon(cfg, Notifier({}))
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    evse = Evse()
    try:
        await until(lambda: cfg.socket_path.exists(), WAIT_S, "hal listening")
        await evse.connect(cfg.socket_path)
        assert daemon.devices is not None and daemon.devices.sim_transports is not None
        world = daemon.devices.world
        assert world is not None
        sim = daemon.devices.sim_transports.evses[1]
        ev = world.evses[1]
        evse.send(p.PilotCommand(1, 5.0))
        evse.send(p.AllowPowerOn(1, True, "test"))
        evse.send(p.PowerRequest(1, "setpoint", 6000.0, 0.0, 6000.0))
        await until(
            lambda: ev.mcu.contactor_closed and abs(ev.stage.active_w - 6000.0) < 60,
            WAIT_S,
            "charging at 6 kW",
            evse,
        )

        await _call(inject, sim)
        fault = None

        def faulted() -> bool:
            nonlocal fault
            found = [e for e in evse.events("fault") if e.data["device"] == device]
            fault = found[0] if found else None
            return fault is not None

        await until(faulted, WAIT_S, f"fault event from {device}")
        assert fault is not None and re.search(reason, fault.data["reason"]), fault.data
        if protective:
            if clear is not _nothing:  # the fault persists until cleared: look at it
                # Safe: contactor open (by hal, or by the MCU itself when hal cannot reach
                # it), so no power flows whatever the stage was last told.
                await until(
                    lambda: not ev.mcu.contactor_closed and abs(ev.stage.active_w) < 60,
                    WAIT_S,
                    "contactor open, power at zero",
                    evse,
                )
                if device != "stage-1":  # the stage still listens: hal sets it to zero
                    await until(lambda: ev.stage.setpoint_w == 0.0, WAIT_S, "setpoint 0", evse)

        else:
            await until(
                lambda: ev.stage.setpoint_w == 0.0 and abs(ev.stage.active_w) < 60,
                WAIT_S,
                "power at zero while the meter is out",
                evse,
            )
            assert ev.mcu.contactor_closed

        await _call(clear, sim)
        await until(
            lambda: any(e.data["device"] == device for e in evse.events("fault_cleared")),
            WAIT_S,
            f"fault_cleared from {device}",
        )
        await until(
            lambda: ev.mcu.contactor_closed and abs(ev.stage.active_w - 6000.0) < 60,
            WAIT_S,
            "charging again",
            evse,
        )
        assert len([e for e in evse.events("fault") if e.data["device"] == device]) == 1
        if protective:
            # evse heard the contactor open (as confirmed by the MCU) after the fault; when
            # hal could not reach the MCU, as soon as it could again.
            i = evse.messages.index(fault)
            assert any(
                isinstance(e, p.Event) and e.kind == "contactor" and e.data == {"closed": False}
                for e in evse.messages[i:]
            )
    finally:
        await evse.close()
        stop.set()
        await asyncio.wait_for(task, WAIT_S)
    # Stopped: power to zero and the contactor open.
    assert not ev.mcu.contactor_requested


def test_line_noise_on_the_mcu_link_is_not_a_fault() -> None:
    """Garbage, a few CRC errors and frames split into pieces cost a few frames, not the
    link: no fault event, the power keeps flowing."""

    async def scenario(cfg: object) -> None:
        from hal.config import HalConfig

        assert isinstance(cfg, HalConfig)
        daemon = HalDaemon(cfg, Notifier({}))
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        evse = Evse()
        try:
            await until(lambda: cfg.socket_path.exists(), WAIT_S, "hal listening")
            await evse.connect(cfg.socket_path)
            assert daemon.devices is not None and daemon.devices.sim_transports is not None
            assert daemon.devices.world is not None
            sim = daemon.devices.sim_transports.evses[1]
            ev = daemon.devices.world.evses[1]
            evse.send(p.PilotCommand(1, 5.0))
            evse.send(p.AllowPowerOn(1, True, "test"))
            evse.send(p.PowerRequest(1, "setpoint", 6000.0, 0.0, 6000.0))
            await until(
                lambda: ev.mcu.contactor_closed and abs(ev.stage.active_w - 6000) < 60,
                WAIT_S,
                "charging at 6 kW",
                evse,
            )
            for _ in range(5):
                sim.mcu.faults.garbage = b"\xde\xad\x00\xbe\xef\x42"
                sim.mcu.faults.corrupt_crc = 2
                await asyncio.sleep(0.1)
            sim.mcu.faults.split = True
            await asyncio.sleep(0.5)
            sim.mcu.faults.split = False
            await asyncio.sleep(0.2)
            assert evse.events("fault") == []
            assert ev.mcu.contactor_closed and abs(ev.stage.active_w - 6000.0) < 60
            assert sim.mcu.frame_errors == 0  # hal's frames to the MCU were all clean
        finally:
            await evse.close()
            stop.set()
            await asyncio.wait_for(task, WAIT_S)

    with tempfile.TemporaryDirectory(prefix="evse-") as d:
        run(scenario(parse_hal(Table(tomllib.loads(CONFIG.format(dir=d)), ""), Path(d))))
