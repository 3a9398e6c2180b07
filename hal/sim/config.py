"""The `[sim]` table: how the simulated grid, power stage, EV and MCU behave.

    [sim]
    control_socket = "../var/sim/world.sock"  # runtime commands (docs/sim-control.md)
    t0_monotonic = 12345.6   # the scripted timeline's zero (time.monotonic(), system-wide
                             # on Linux): a restarted hal continues the same timeline

`[sim.car]` belongs to evse (our simulated car, evse/sim/ev/plan.py); hal ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hal.config_reader import ConfigError, Table
from hal.sim.dc_config import SimDcConfig, parse_sim_dc
from hal.sim.grid import GridProfile, parse_grid_profile
from hal.sim.house import HouseProfile, parse_house


@dataclass(frozen=True, slots=True)
class SimConfig:
    grid: GridProfile
    stage_time_constant_s: float
    stage_rate_limit_w_per_s: float
    plug_in_at_s: float | None
    unplug_at_s: float | None
    pp_ampacity_a: float
    contactor_delay_s: float
    mcu_keepalive_timeout_s: float
    house: HouseProfile | None = None  # `[sim.grid_meter]`: a site with a grid meter
    dc: SimDcConfig | None = None  # `[sim.dc]`: DC output + EV battery for "dc" EVSEs
    control_socket: Path | None = None  # runtime commands (hal/sim/control.py)
    t0_monotonic: float | None = None  # the timeline's zero; None: hal's start


def parse_sim(
    table: Table, nominal_voltage_v: float, nominal_frequency_hz: float, phases: int,
    base_dir: Path | None = None,
) -> SimConfig:
    ev = table.table("ev")
    plug = ev.opt_float("plug_in_at_s", lo=0.0)
    unplug = ev.opt_float("unplug_at_s", lo=0.0)
    if plug is not None and unplug is not None and unplug <= plug:
        raise ConfigError(ev.key("unplug_at_s"), unplug, "must be after plug_in_at_s")
    pp = ev.get_float("pp_ampacity_a", 32.0)
    if pp not in (13.0, 20.0, 32.0, 63.0, 70.0):
        raise ConfigError(ev.key("pp_ampacity_a"), pp, "one of 13, 20, 32, 63, 70 (IEC 61851-1)")
    ev.reject_unknown()
    stage = table.table("power_stage")
    mcu = table.table("mcu")
    cfg = SimConfig(
        grid=parse_grid_profile(
            table.table("grid"), nominal_voltage_v, nominal_frequency_hz, phases
        ),
        stage_time_constant_s=stage.get_float("time_constant_s", 0.1, lo=0.001, hi=10.0),
        stage_rate_limit_w_per_s=stage.get_float("rate_limit_w_per_s", 50000.0, lo=1.0),
        plug_in_at_s=plug,
        unplug_at_s=unplug,
        pp_ampacity_a=pp,
        contactor_delay_s=mcu.get_float("contactor_delay_s", 0.03, lo=0.0, hi=1.0),
        mcu_keepalive_timeout_s=mcu.get_float("keepalive_timeout_s", 2.0, lo=0.1, hi=60.0),
        house=parse_house(table.table("grid_meter")) if table.has("grid_meter") else None,
        dc=parse_sim_dc(table.table("dc")) if table.has("dc") else None,
        control_socket=_control_socket(table, base_dir),
        t0_monotonic=table.opt_float("t0_monotonic", lo=0.0),
    )
    table.raw("car", None)  # evse's (evse/sim/ev/plan.py)
    stage.reject_unknown()
    mcu.reject_unknown()
    table.reject_unknown()
    return cfg


def _control_socket(table: Table, base_dir: Path | None) -> Path | None:
    value = table.opt_str("control_socket")
    if value is None:
        return None
    if not value or len(value) > 100:  # AF_UNIX paths are limited to 108 bytes
        raise ConfigError(table.key("control_socket"), value, "a socket path of 1-100 bytes")
    path = Path(value)
    return path if path.is_absolute() or base_dir is None else (base_dir / path).resolve()
