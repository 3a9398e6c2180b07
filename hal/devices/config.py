"""The `[devices]` table: which drivers hal runs and over which transports.

Modes:
- "sim": simulated devices in process (no transport at all);
- "sim-transports": the simulated devices run as servers inside hal (an MCU on a pty, a
  meter and a SunSpec inverter as Modbus servers on a pty pair or loopback TCP) and the
  real drivers talk to them: a simulation run exercises the code a board runs;
- "hardware": the real drivers on the ports named per EVSE in `[[devices.evse]]`:

    [[devices.evse]]
    id = 1
    mcu = { port = "/dev/ttymxc1" }
    meter = { map = "sdm630", transport = "rtu", device = "/dev/ttyUSB0", device_id = 1 }
    stage = { kind = "sunspec", transport = "tcp", host = "192.168.1.50", device_id = 1 }

  plus an optional `[devices.grid_meter]` (same keys as `meter`) at the grid connection.
Every error is a ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hal.config_reader import ConfigError, Table
from hal.devices.mcu_link.serial_mcu import McuLinkSettings
from hal.devices.meters.regmap import MeterMap, load_map
from hal.devices.modbus.link import ModbusTransport

MODES = ("sim", "sim-transports", "hardware")
SIMULATED = ("sim", "sim-transports")


@dataclass(frozen=True, slots=True)
class ModbusDeviceConfig:
    transport: ModbusTransport
    device_id: int


@dataclass(frozen=True, slots=True)
class MeterConfig:
    modbus: ModbusDeviceConfig
    regmap: MeterMap


@dataclass(frozen=True, slots=True)
class StageConfig:
    kind: str  # "sunspec"
    modbus: ModbusDeviceConfig
    base_address: int | None  # None: probe 40000, 0, 50000


@dataclass(frozen=True, slots=True)
class EvseDevicesConfig:
    id: int
    mcu: McuLinkSettings
    meter: MeterConfig
    stage: StageConfig


@dataclass(frozen=True, slots=True)
class SimTransportsConfig:
    meter: str  # "rtu" | "tcp"
    stage: str  # "rtu" | "tcp"


@dataclass(frozen=True, slots=True)
class DevicesConfig:
    mode: str
    command_timeout_s: float  # a device call slower than this is a fault
    evses: tuple[EvseDevicesConfig, ...] = ()
    grid_meter: MeterConfig | None = None
    sim_transports: SimTransportsConfig | None = None

    @property
    def simulated(self) -> bool:
        return self.mode in SIMULATED


def driver_timeout(command_timeout_s: float) -> float:
    """Drivers give up a little before the loop's own guard (`command_timeout_s`), so a
    fault carries the driver's precise reason (CRC, exception code, ...), not just
    "no answer"."""
    return 0.8 * command_timeout_s


def parse_modbus(t: Table, timeout_s: float) -> ModbusDeviceConfig:
    kind = t.choice("transport", ("rtu", "tcp"))
    if kind == "tcp":
        transport = ModbusTransport(
            "tcp",
            host=t.get_str("host"),
            port=t.get_int("port", 502, lo=1, hi=65535),
            timeout_s=t.get_float("timeout_s", timeout_s, lo=0.01, hi=10.0),
        )
    else:
        transport = ModbusTransport(
            "rtu",
            device=t.get_str("device"),
            baudrate=t.get_int("baudrate", 9600, lo=1200, hi=1_000_000),
            parity=t.choice("parity", ("N", "E", "O"), "N"),
            stopbits=t.get_int("stopbits", 1, lo=1, hi=2),
            timeout_s=t.get_float("timeout_s", timeout_s, lo=0.01, hi=10.0),
        )
    return ModbusDeviceConfig(transport, t.get_int("device_id", 1, lo=1, hi=247))


def parse_meter(t: Table, base_dir: Path, timeout_s: float) -> MeterConfig:
    name = t.get_str("map")
    try:
        regmap = load_map(name, base_dir)
    except ConfigError as exc:
        raise ConfigError(t.key("map"), name, str(exc)) from exc
    cfg = MeterConfig(parse_modbus(t, timeout_s), regmap)
    t.reject_unknown()
    return cfg


def parse_stage(t: Table, timeout_s: float) -> StageConfig:
    kind = t.choice("kind", ("sunspec",), "sunspec")
    base = t.raw("base_address", None)
    if base is not None:
        base = t.get_int("base_address", lo=0, hi=65535)
    cfg = StageConfig(kind, parse_modbus(t, timeout_s), base)
    t.reject_unknown()
    return cfg


def parse_mcu(t: Table, timeout_s: float) -> McuLinkSettings:
    s = McuLinkSettings(
        port=t.get_str("port"),
        baudrate=t.get_int("baudrate", 115200, lo=1200, hi=4_000_000),
        keepalive_interval_s=t.get_float("keepalive_interval_s", 0.1, lo=0.005, hi=5.0),
        mcu_keepalive_timeout_s=t.get_float("mcu_keepalive_timeout_s", 1.0, lo=0.05, hi=60.0),
        status_period_s=t.get_float("status_period_s", 0.02, lo=0.005, hi=1.0),
        link_timeout_s=t.get_float("link_timeout_s", 0.5, lo=0.02, hi=60.0),
        command_timeout_s=t.get_float("command_timeout_s", timeout_s, lo=0.01, hi=10.0),
    )
    if s.mcu_keepalive_timeout_s <= s.keepalive_interval_s * 2:
        raise ConfigError(
            t.key("mcu_keepalive_timeout_s"),
            s.mcu_keepalive_timeout_s,
            "must exceed two keep-alive intervals",
        )
    if s.link_timeout_s <= s.status_period_s * 2:
        raise ConfigError(
            t.key("link_timeout_s"), s.link_timeout_s, "must exceed two status periods"
        )
    t.reject_unknown()
    return s


def parse_devices(
    table: Table, base_dir: Path = Path("."), evse_ids: Iterable[int] = ()
) -> DevicesConfig:
    """`base_dir`: the config file's folder (meter map files are relative to it);
    `evse_ids`: the `[[evse]]` ids, each of which needs its devices in hardware mode."""
    mode = table.choice("mode", MODES, "sim")
    loop_timeout = table.get_float("command_timeout_s", 0.5, lo=0.001, hi=10.0)
    timeout = driver_timeout(loop_timeout)
    evses: list[EvseDevicesConfig] = []
    grid_meter: MeterConfig | None = None
    sim_t: SimTransportsConfig | None = None
    if mode == "hardware":
        for t in table.tables("evse"):
            evses.append(
                EvseDevicesConfig(
                    id=t.get_int("id", lo=1, hi=255),
                    mcu=parse_mcu(t.table("mcu", required=True), timeout),
                    meter=parse_meter(t.table("meter", required=True), base_dir, timeout),
                    stage=parse_stage(t.table("stage", required=True), timeout),
                )
            )
            t.reject_unknown()
        ids = [e.id for e in evses]
        missing = sorted(set(evse_ids) - set(ids))
        if missing or len(set(ids)) != len(ids) or set(ids) - set(evse_ids):
            raise ConfigError(
                table.key("evse"),
                ids,
                f"need exactly one entry per [[evse]] id {sorted(set(evse_ids))}",
            )
        if table.has("grid_meter"):
            grid_meter = parse_meter(table.table("grid_meter"), base_dir, timeout)
    elif mode == "sim-transports":
        t = table.table("sim_transports")
        sim_t = SimTransportsConfig(
            meter=t.choice("meter", ("rtu", "tcp"), "rtu"),
            stage=t.choice("stage", ("rtu", "tcp"), "tcp"),
        )
        t.reject_unknown()
    cfg = DevicesConfig(mode, loop_timeout, tuple(evses), grid_meter, sim_t)
    table.reject_unknown()
    return cfg
