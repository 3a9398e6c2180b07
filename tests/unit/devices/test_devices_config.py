"""The `[devices]` table: hardware and sim-transports modes; errors name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from hal.config import parse_hal
from hal.config_reader import ConfigError, Table
from hal.devices.config import parse_devices

HW = """
mode = "hardware"
command_timeout_s = 0.3
[[evse]]
id = 1
mcu = { port = "/dev/ttymxc1", keepalive_interval_s = 0.05 }
[evse.meter]
map = "em340"
transport = "rtu"
device = "/dev/ttyUSB0"
baudrate = 19200
parity = "E"
device_id = 3
[evse.stage]
transport = "tcp"
host = "192.168.1.50"
device_id = 2
base_address = 40000
[grid_meter]
map = "sdm630"
transport = "tcp"
host = "10.0.0.2"
port = 5020
"""


def _devices(text: str, ids: tuple[int, ...] = (1,), base: Path = Path(".")) -> Any:
    return parse_devices(Table(tomllib.loads(text), "devices"), base, ids)


def test_hardware_mode() -> None:
    d = _devices(HW)
    assert d.mode == "hardware" and not d.simulated
    (e,) = d.evses
    assert e.mcu.port == "/dev/ttymxc1" and e.mcu.keepalive_interval_s == 0.05
    assert e.mcu.command_timeout_s == pytest.approx(0.24)  # 0.8 x the loop's guard
    t = e.meter.modbus.transport
    assert (t.kind, t.device, t.baudrate, t.parity) == ("rtu", "/dev/ttyUSB0", 19200, "E")
    assert t.timeout_s == pytest.approx(0.24)
    assert e.meter.modbus.device_id == 3 and e.meter.regmap.name == "Carlo Gavazzi EM340"
    assert e.stage.modbus.transport.key == "tcp:192.168.1.50:502"
    assert e.stage.base_address == 40000
    assert d.grid_meter is not None and d.grid_meter.modbus.transport.port == 5020


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('map = "em340"', 'map = "nosuch"', "devices.evse[0].meter.map"),
        ('transport = "rtu"', 'transport = "udp"', "devices.evse[0].meter.transport"),
        ('parity = "E"', 'parity = "X"', "devices.evse[0].meter.parity"),
        ("device_id = 3", "device_id = 300", "devices.evse[0].meter.device_id"),
        ('port = "/dev/ttymxc1", ', "", "devices.evse[0].mcu.port"),
        ('host = "192.168.1.50"', "", "devices.evse[0].stage.host"),
        (
            "keepalive_interval_s = 0.05",
            "keepalive_interval_s = 0.6",
            "devices.evse[0].mcu.mcu_keepalive_timeout_s",
        ),
        ("base_address = 40000", "base_adress = 40000", "devices.evse[0].stage.base_adress"),
        ('mode = "hardware"', 'mode = "real"', "devices.mode"),
    ],
)
def test_errors_name_the_key(old: str, new: str, key: str) -> None:
    assert old in HW
    with pytest.raises(ConfigError) as err:
        _devices(HW.replace(old, new))
    assert err.value.key == key


def test_every_evse_needs_devices() -> None:
    with pytest.raises(ConfigError) as err:
        _devices(HW, ids=(1, 2))
    assert err.value.key == "devices.evse"


def test_meter_map_file_relative_to_config_dir(tmp_path: Path) -> None:
    src = (Path(__file__).parents[3] / "hal/devices/meters/sdm630.toml").read_text()
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps/custom.toml").write_text(src.replace("Eastron SDM630", "Custom"))
    d = _devices(HW.replace('map = "em340"', 'map = "maps/custom.toml"'), base=tmp_path)
    assert d.evses[0].meter.regmap.name == "Custom"


def test_sim_transports_mode_through_parse_hal(tmp_path: Path) -> None:
    text = """
[hal]
socket = "hal.sock"
state_dir = "state"
[[evse]]
id = 1
kind = "ac"
max_charge_w = 11000
[devices]
mode = "sim-transports"
sim_transports = { meter = "tcp", stage = "rtu" }
[sim.ev]
plug_in_at_s = 0.0
"""
    cfg = parse_hal(Table(tomllib.loads(text), ""), tmp_path)
    assert cfg.devices.simulated and cfg.sim is not None
    assert cfg.devices.sim_transports is not None
    assert (cfg.devices.sim_transports.meter, cfg.devices.sim_transports.stage) == ("tcp", "rtu")
    with pytest.raises(ConfigError) as err:
        parse_hal(
            Table(tomllib.loads(text.replace('stage = "rtu"', 'stage = "can"')), ""), tmp_path
        )
    assert err.value.key == "devices.sim_transports.stage"
