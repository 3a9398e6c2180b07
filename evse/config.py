"""The station config: one TOML file, loaded once into typed objects.

Every error is a `ConfigError` naming the key, the value and the reason; callers exit
non-zero before they touch a device. Relative paths resolve against the file's folder,
so `config/sim.toml` works from any working directory.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hal.config import HalConfig, parse_hal, resolve_path
from hal.config_reader import ConfigError, Table

if TYPE_CHECKING:
    from evse.iso15118.config import IsoConfig
    from evse.ocpp.config import OcppConfig

LEVELS = ("debug", "info", "warning", "error", "critical")
SECTIONS = (
    "logging", "hal", "grid", "evse", "devices", "sim", "controller", "ocpp", "iso15118"
)


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: int
    modules: dict[str, int]  # logger name -> level


@dataclass(frozen=True, slots=True)
class ScheduleStep:
    at_s: float
    request_w: float


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """What `evse run` does until the energy manager exists: follow a fixed request."""

    keepalive_interval_s: float
    pwm_duty_pct: float  # 5 % = digital communication; 10-96 % = basic AC current
    request_w: float  # + charges, - discharges
    schedule: tuple[ScheduleStep, ...]  # later requests, seconds after start
    status_period_s: float
    state_dir: Path  # evse's database (OCPP queue, transactions, device model)
    id_token: str | None  # presented at plug-in (free vend / AutoCharge); None: wait for one
    # The grid connection's limit, import and export (OCPP 2.1 Q09 LocalLoadBalancing).
    grid_limit_w: float | None = None


@dataclass(frozen=True, slots=True)
class StationConfig:
    path: Path
    logging: LoggingConfig
    hal: HalConfig
    controller: ControllerConfig
    ocpp: OcppConfig | None  # None: no CSMS (a stand-alone station)
    iso15118: tuple[IsoConfig, ...] = ()  # the EVSEs that speak ISO 15118-20


def _level(t: Table, key: str, default: str) -> int:
    name = t.choice(key, LEVELS, default)
    return int(logging.getLevelName(name.upper()))


def parse_logging(t: Table) -> LoggingConfig:
    level = _level(t, "level", "info")
    mods_t = t.table("modules")
    modules = {name: _level(mods_t, name, "info") for name in mods_t.names()}
    mods_t.reject_unknown()
    t.reject_unknown()
    return LoggingConfig(level, modules)


def parse_controller(t: Table, base_dir: Path) -> ControllerConfig:
    duty = t.get_float("pwm_duty_pct", 5.0, lo=0.0, hi=100.0)
    if 0.0 < duty < 3.0 or 7.0 < duty < 8.0 or 97.0 < duty < 100.0:
        raise ConfigError(t.key("pwm_duty_pct"), duty, "not a valid IEC 61851-1 duty cycle")
    steps = []
    for s in t.tables("schedule"):
        steps.append(ScheduleStep(s.get_float("at_s", lo=0.0), s.get_float("request_w")))
        s.reject_unknown()
    if [x.at_s for x in steps] != sorted(x.at_s for x in steps):
        raise ConfigError(t.key("schedule"), [x.at_s for x in steps], "at_s must not decrease")
    cfg = ControllerConfig(
        keepalive_interval_s=t.get_float("keepalive_interval_s", 0.5, lo=0.01, hi=60.0),
        pwm_duty_pct=duty,
        request_w=t.get_float("request_w", 0.0, lo=-1e6, hi=1e6),
        schedule=tuple(steps),
        status_period_s=t.get_float("status_period_s", 1.0, lo=0.05, hi=3600.0),
        state_dir=resolve_path(base_dir, t.get_str("state_dir", "/var/lib/evse")),
        id_token=t.opt_str("id_token"),
        grid_limit_w=t.opt_float("grid_limit_w", lo=0.0, hi=1e7),
    )
    if cfg.id_token is not None and not 1 <= len(cfg.id_token) <= 255:
        raise ConfigError(t.key("id_token"), cfg.id_token, "must be 1-255 characters")
    t.reject_unknown()
    return cfg


def parse_station(data: dict[str, Any], path: Path) -> StationConfig:
    root = Table(data, "")
    for key in data:
        if key not in SECTIONS:
            raise ConfigError(key, data[key], f"unknown section (known: {', '.join(SECTIONS)})")
    log_cfg = parse_logging(root.table("logging"))
    hal = parse_hal(root, path.parent)
    controller = parse_controller(root.table("controller"), path.parent)
    if hal.keepalive_timeout_s <= controller.keepalive_interval_s:
        raise ConfigError(
            "controller.keepalive_interval_s",
            controller.keepalive_interval_s,
            f"must be shorter than hal.keepalive_timeout_s ({hal.keepalive_timeout_s})",
        )
    ocpp: OcppConfig | None = None
    if root.has("ocpp"):
        # Imported only when used: hal and OCPP-less stations skip the schema package.
        from evse.ocpp.config import parse_ocpp
        from evse.ocpp.der_device_model import UnitRating

        v, hz = hal.grid.nominal_voltage_v, hal.grid.nominal_frequency_hz  # R01/R02 nameplate
        units = tuple(
            UnitRating(u.id, u.kind, u.max_charge_w, u.max_discharge_w, u.max_var, v, hz)
            for u in hal.evses
        )
        ocpp = replace(parse_ocpp(root.table("ocpp"), path.parent), units=units)
    iso: tuple[IsoConfig, ...] = ()
    if root.has("iso15118"):  # imported only when used, like OCPP
        from evse.iso15118.config import parse_iso15118

        nominal_v = hal.grid.nominal_voltage_v
        iso = parse_iso15118(root.tables("iso15118"), path.parent, hal.evses, nominal_v)
    return StationConfig(path, log_cfg, hal, controller, ocpp, iso)


def load_station(path: str | Path) -> StationConfig:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError("<file>", str(p), f"cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("<file>", str(p), f"not valid TOML: {exc}") from None
    return parse_station(data, p.resolve())
