"""Grid settings: the `[grid]` table of the station config (preset + overrides).

Foundation version: nominal values only. The grid-code presets (config/gridcodes/*.toml)
and their key-by-key overrides are resolved here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hal.config_reader import Table


@dataclass(frozen=True, slots=True)
class GridSettings:
    preset: str | None
    nominal_voltage_v: float  # line-to-neutral
    nominal_frequency_hz: float


def parse_grid_settings(table: Table, config_dir: Path) -> GridSettings:
    """`config_dir`: the station config's folder; presets live in its `gridcodes/`."""
    settings = GridSettings(
        preset=table.opt_str("preset"),
        nominal_voltage_v=table.get_float("nominal_voltage_v", 230.0, lo=50.0, hi=400.0),
        nominal_frequency_hz=table.get_float("nominal_frequency_hz", 50.0, lo=45.0, hi=65.0),
    )
    table.reject_unknown()
    return settings
