"""The `[devices]` table: which drivers hal runs and over which transports.

Foundation version: `mode = "sim"` only (simulated devices in process). Hardware drivers
(Modbus meters, SunSpec power stage, the MCU serial link) and the simulated devices
behind real transports add their keys here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.config_reader import Table

MODES = ("sim",)


@dataclass(frozen=True, slots=True)
class DevicesConfig:
    mode: str
    command_timeout_s: float  # a device call slower than this is a fault


def parse_devices(table: Table) -> DevicesConfig:
    cfg = DevicesConfig(
        mode=table.choice("mode", MODES, "sim"),
        command_timeout_s=table.get_float("command_timeout_s", 0.5, lo=0.001, hi=10.0),
    )
    table.reject_unknown()
    return cfg
