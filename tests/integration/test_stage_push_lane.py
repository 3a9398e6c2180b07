"""The stage's protection push is its own, lower-priority traffic (issue 9): a settings
write the inverter answers too late does not make the next state read fail (no stage
fault, the contactor stays closed), and a setting no longer in force is switched off in
the inverter (an expired LimitMaxDischarge must not stay enabled)."""

from __future__ import annotations

import asyncio
import tempfile
import tomllib
from pathlib import Path

from hal_inproc import Client, until

from hal import protocol as p
from hal.config import HalConfig, parse_hal
from hal.config_reader import Table
from hal.daemon import HalDaemon
from hal.sdnotify import Notifier

CONFIG = """
[hal]
socket = "{dir}/hal.sock"
state_dir = "{dir}/state"
keepalive_timeout_s = 30.0
[grid]
nominal_voltage_v = 230.0
nominal_frequency_hz = 50.0
[grid.trip]
hv_must_trip = [[0.1, 125.0]]
[grid.freq_droop]
over_freq_hz = 50.2
under_freq_hz = 49.8
over_droop = 0.05
under_droop = 0.05
response_time_s = 2.0
[[evse]]
id = 1
kind = "dc"
max_charge_w = 11000.0
max_discharge_w = 11000.0
[devices]
mode = "sim-transports"
command_timeout_s = 0.25
sim_transports = {{ meter = "tcp", stage = "rtu" }}
[sim.ev]
plug_in_at_s = 0.0
[sim.power_stage]
time_constant_s = 0.02
rate_limit_w_per_s = 1000000.0
[sim.mcu]
keepalive_timeout_s = 60.0
"""

LMD = {
    "id": "lmd",
    "controlType": "LimitMaxDischarge",
    "isDefault": True,
    "limitMaxDischarge": {"priority": 0, "pctMaxDischargePower": 50.0},
}


def _scenario(test: object) -> None:
    with tempfile.TemporaryDirectory(prefix="evse-") as d:
        cfg = parse_hal(Table(tomllib.loads(CONFIG.format(dir=d)), ""), Path(d))
        asyncio.run(test(cfg))  # type: ignore[operator]


def test_a_slow_settings_write_does_not_fault_the_stage() -> None:
    async def scenario(cfg: HalConfig) -> None:
        daemon = HalDaemon(cfg, Notifier({}))
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        client = Client()
        try:
            await until(lambda: bool(daemon.units) and cfg.socket_path.exists(), 20.0, "up")
            await client.connect(cfg.socket_path)
            assert daemon.devices is not None and daemon.devices.sim_transports is not None
            inv = daemon.devices.sim_transports.evses[1].inverter
            ev = daemon.devices.world.evses[1]  # type: ignore[union-attr]
            await until(lambda: inv.get(711, "Ena") == 1, 20.0, "first push")
            unit = daemon.units[1]
            client.send(p.PilotCommand(1, 5.0))
            client.send(p.AllowPowerOn(1, True, "test"))
            client.send(p.PowerRequest(1, "setpoint", 6000.0, 0.0, 6000.0))
            await until(lambda: abs(ev.stage.active_w - 6000.0) < 60.0, 20.0, "charging")
            # On the RS-485 line, settings writes answer after 0.3 s (the link gives up
            # after 0.2 s, so the late answer lands on the next request); state reads and
            # setpoint writes answer at once. New controls in force start a push.
            inv.slow_writes = {m: 0.3 for m in (703, 705, 706, 707, 708, 709, 710, 711)}
            before = inv.write_attempts.get(711, 0)
            unit.engine.set_directives([LMD], daemon.clock())
            await until(lambda: inv.write_attempts.get(711, 0) > before, 20.0, "a push attempt")
            await asyncio.sleep(4.0)
            assert client.events("fault") == []
            assert ev.mcu.contactor_closed and abs(ev.stage.active_w - 6000.0) < 60.0
        finally:
            await client.close()
            stop.set()
            await asyncio.wait_for(task, 30.0)

    _scenario(scenario)


def test_a_setting_no_longer_in_force_is_disabled_in_the_inverter() -> None:
    async def scenario(cfg: HalConfig) -> None:
        daemon = HalDaemon(cfg, Notifier({}))
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        try:
            await until(lambda: bool(daemon.units) and cfg.socket_path.exists(), 20.0, "up")
            assert daemon.devices is not None and daemon.devices.sim_transports is not None
            inv = daemon.devices.sim_transports.evses[1].inverter
            engine = daemon.units[1].engine
            engine.set_directives([LMD], daemon.clock())
            await until(lambda: inv.get(704, "WMaxLimPctEna") == 1, 20.0, "limit enabled")
            engine.set_directives([], daemon.clock())  # the limit expired: evse sends none
            await until(lambda: inv.get(704, "WMaxLimPctEna") == 0, 20.0, "limit disabled")
        finally:
            stop.set()
            await asyncio.wait_for(task, 30.0)

    _scenario(scenario)
