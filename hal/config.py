"""hal's part of the station config: `[hal]`, `[grid]`, `[[evse]]`, `[devices]`, `[sim]`.

Parsed once at start into frozen dataclasses; any error is a `ConfigError` that names
the key, and the daemon exits non-zero before it opens a device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hal.config_reader import ConfigError, Table
from hal.devices.config import DevicesConfig, parse_devices
from hal.grid.settings import GridSettings, parse_grid_settings
from hal.sim.config import SimConfig, parse_sim


@dataclass(frozen=True, slots=True)
class EvseUnitConfig:
    id: int
    kind: str  # "ac" | "dc"
    max_charge_w: float
    max_discharge_w: float  # magnitude; 0 = charge only
    max_var: float
    phases: int


@dataclass(frozen=True, slots=True)
class HalConfig:
    socket_path: Path
    state_dir: Path
    period_s: float
    keepalive_timeout_s: float  # evse silent longer than this: ramp power to zero
    ramp_down_s: float  # time from full rated power to zero on keep-alive loss
    report_period_s: float  # measurements to evse at this period
    max_clients: int  # contract connections at once (one controller + observers)
    evses: tuple[EvseUnitConfig, ...]
    grid: GridSettings
    devices: DevicesConfig
    sim: SimConfig | None
    # Protection and opening rules (README: Safety); defaults suit a wallbox.
    grid_sample_grace: int = 3  # missing grid samples ridden through before ceasing
    open_below_w: float = 200.0  # a normal opening waits for |P| below this ...
    open_wait_s: float = 1.0  # ... at most this long, then opens anyway (and says so)
    contactor_confirm_s: float = 0.5  # mirror contact may lag the command this long
    ac_x1_wait_s: float = 6.0  # AC, evse silent: X1 first, open after (IEC 61851-1 A.6)
    stop_safe_s: float = 2.0  # SIGTERM: bound on reaching power zero + contactors open
    # LocalFrequency (OCPP 2.1 Q08) keeps running this long after evse went silent (Q11).
    local_frequency_hold_s: float = 60.0

    @property
    def directives_path(self) -> Path:
        return self.state_dir / "der-directives.cbor"


def resolve_path(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (base / p).resolve()


def parse_evses(root: Table) -> tuple[EvseUnitConfig, ...]:
    units: list[EvseUnitConfig] = []
    for t in root.tables("evse"):
        unit = EvseUnitConfig(
            id=t.get_int("id", lo=1, hi=255),
            kind=t.choice("kind", ("ac", "dc")),
            max_charge_w=t.get_float("max_charge_w", lo=1.0, hi=1_000_000.0),
            max_discharge_w=t.get_float("max_discharge_w", 0.0, lo=0.0, hi=1_000_000.0),
            max_var=t.get_float("max_var", 0.0, lo=0.0, hi=1_000_000.0),
            phases=t.get_int("phases", 3, lo=1, hi=3),
        )
        t.reject_unknown()
        units.append(unit)
    if not units:
        raise ConfigError("evse", None, "at least one [[evse]] is required")
    ids = [u.id for u in units]
    if len(set(ids)) != len(ids):
        raise ConfigError("evse", ids, "EVSE ids must be unique")
    return tuple(units)


def parse_hal(root: Table, base_dir: Path) -> HalConfig:
    hal = root.table("hal", required=True)
    period_ms = hal.get_float("period_ms", 20.0, lo=1.0, hi=1000.0)
    grid = parse_grid_settings(root.table("grid"), base_dir)
    evses = parse_evses(root)
    devices = parse_devices(root.table("devices"), base_dir, [u.id for u in evses])
    sim: SimConfig | None = None
    if devices.simulated:
        sim = parse_sim(
            root.table("sim"),
            grid.nominal_voltage_v,
            grid.nominal_frequency_hz,
            max(u.phases for u in evses),
            base_dir,
        )
    elif root.has("sim"):
        raise ConfigError("sim", "...", "only allowed with a simulated devices.mode")
    cfg = HalConfig(
        socket_path=resolve_path(base_dir, hal.get_str("socket")),
        state_dir=resolve_path(base_dir, hal.get_str("state_dir")),
        period_s=period_ms / 1000.0,
        keepalive_timeout_s=hal.get_float("keepalive_timeout_s", 3.0, lo=0.1, hi=600.0),
        ramp_down_s=hal.get_float("ramp_down_s", 2.0, lo=0.0, hi=600.0),
        report_period_s=hal.get_float("report_period_ms", 100.0, lo=10.0, hi=60000.0) / 1000.0,
        max_clients=hal.get_int("max_clients", 8, lo=1, hi=64),
        evses=evses,
        grid=grid,
        devices=devices,
        sim=sim,
        grid_sample_grace=hal.get_int("grid_sample_grace", 3, lo=0, hi=100),
        open_below_w=hal.get_float("open_below_w", 200.0, lo=0.0, hi=1_000_000.0),
        open_wait_s=hal.get_float("open_wait_s", 1.0, lo=0.0, hi=60.0),
        contactor_confirm_s=hal.get_float("contactor_confirm_s", 0.5, lo=0.05, hi=10.0),
        ac_x1_wait_s=hal.get_float("ac_x1_wait_s", 6.0, lo=0.0, hi=60.0),
        stop_safe_s=hal.get_float("stop_safe_s", 2.0, lo=0.1, hi=8.0),
        local_frequency_hold_s=hal.get_float("local_frequency_hold_s", 60.0, lo=0.0, hi=900.0),
    )
    if len(str(cfg.socket_path)) > 100:
        raise ConfigError(hal.key("socket"), str(cfg.socket_path), "path too long for AF_UNIX")
    hal.reject_unknown()
    return cfg
