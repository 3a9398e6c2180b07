"""`devices.mode = "sim-transports"`: hal starts the simulated devices behind real
transports from the SimWorld and the real drivers talk to them; "hardware" mode builds the
same drivers from the config's ports."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest
from devsim_helpers import run

from hal.config import parse_hal
from hal.config_reader import Table
from hal.devices.base import CpState
from hal.devices.factory import open_devices
from hal.devices.mcu_link.serial_mcu import SerialMcu
from hal.devices.meters.modbus_meter import ModbusMeter
from hal.devices.sunspec.der import SunSpecPowerStage

CONFIG = """
[hal]
socket = "hal.sock"
state_dir = "state"
[[evse]]
id = 1
kind = "ac"
max_charge_w = 11000
max_discharge_w = 11000
max_var = 4000
[[evse]]
id = 2
kind = "ac"
max_charge_w = 7400
phases = 1
[devices]
mode = "sim-transports"
command_timeout_s = 0.3
sim_transports = { meter = "rtu", stage = "tcp" }
[sim.ev]
plug_in_at_s = 0.0
[sim.power_stage]
time_constant_s = 0.01
"""


@pytest.mark.parametrize("stage", ["tcp", "rtu"])
def test_sim_transports_drive_the_world_through_the_real_drivers(
    tmp_path: Path, stage: str
) -> None:
    text = CONFIG.replace('stage = "tcp"', f'stage = "{stage}"')
    cfg = parse_hal(Table(tomllib.loads(text), ""), tmp_path)

    async def main() -> None:
        opened = await open_devices(cfg)
        try:
            assert opened.startup_faults == []
            assert opened.world is not None and opened.sim_transports is not None
            ds = opened.sets[1]
            assert isinstance(ds.mcu, SerialMcu) and isinstance(ds.meter, ModbusMeter)
            assert isinstance(ds.stage, SunSpecPowerStage)
            # Different EVSEs get different ptys; meters over RTU, stage over `stage`.
            assert ds.mcu.settings.port != opened.sets[2].mcu.settings.port
            assert ds.meter.link.transport.kind == "rtu"
            assert ds.stage.client.link.transport.kind == stage
            await ds.mcu.set_pwm(50.0)
            await ds.mcu.set_contactor(True, "charging")
            await ds.stage.set_power(6000.0, 0.0)
            for _ in range(30):
                await ds.mcu.keepalive()
                await asyncio.sleep(0.01)
            m = await ds.mcu.read_state()
            st = await ds.stage.read_state()
            r = await ds.meter.read()
            assert m.cp_state is CpState.C and m.contactor_closed
            assert st.active_w == pytest.approx(6000.0, rel=0.02)
            assert r.total_w == pytest.approx(st.active_w, rel=0.05)
            # The drivers saw the very world the servers are fed by.
            assert opened.world.evses[1].stage.setpoint_w == 6000.0
            assert opened.world.evses[2].stage.setpoint_w == 0.0
            r2 = await opened.sets[2].meter.read()
            assert r2.total_w == 0.0
        finally:
            await opened.close()
        assert not opened.world.evses[1].mcu.contactor_requested  # closed on the way out

    run(main())


def test_hardware_mode_with_a_silent_mcu_starts_with_a_fault(tmp_path: Path) -> None:
    """A board whose MCU and inverter do not answer at start: faults to report, not a
    crash (the loop retries them)."""
    import os
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        text = CONFIG.split("[devices]")[0].replace("[[evse]]\nid = 2", "[[unused]]\nid = 2")
        text = (
            text.split("[[unused]]")[0]
            + f"""
[devices]
mode = "hardware"
command_timeout_s = 0.1
[[devices.evse]]
id = 1
mcu = {{ port = "{os.ttyname(slave)}" }}
meter = {{ map = "sdm630", transport = "tcp", host = "127.0.0.1", port = 1 }}
stage = {{ transport = "tcp", host = "127.0.0.1", port = 1 }}
"""
        )
        cfg = parse_hal(Table(tomllib.loads(text), ""), tmp_path)

        async def main() -> None:
            opened = await open_devices(cfg)
            try:
                mcu_fault, stage_fault = opened.startup_faults
                assert mcu_fault.device == "mcu-1" and "no answer to hello" in mcu_fault.reason
                assert stage_fault.device == "stage-1"
                assert "cannot connect" in stage_fault.reason
            finally:
                await opened.close()

        run(main())
    finally:
        os.close(master)
        os.close(slave)
