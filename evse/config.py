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
    from evse.sim.ev.plan import SimCarConfig
    from evse.slac.config import SlacConfig

LEVELS = ("debug", "info", "warning", "error", "critical")
SECTIONS = (
    "logging", "hal", "grid", "evse", "devices", "sim", "controller", "ocpp", "iso15118",
    "mqtt", "slac",
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
    mqtt: MqttConfig | None = None  # None: no local MQTT API
    slac: SlacConfig | None = None  # None: no pilot coordinator (fixed duty from [controller])
    sim_car: SimCarConfig | None = None  # `[sim.car]`: `evse sim` runs our car beside it


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


# ---- [mqtt]: the local API (evse/api/, docs/mqtt-api.md) ------------------------------

MQTT_LOCAL_MODES = ("none", "ExternalSetpoint", "ExternalLimits")


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str
    port: int
    tls: bool
    ca_file: Path | None  # None: the system's CAs (with tls)
    cert_file: Path | None  # client certificate (with key_file)
    key_file: Path | None
    username: str | None
    password: str | None  # read from password_file, never written in the config itself
    topic_prefix: str
    client_id: str
    protocol: str  # "3.1.1" | "5"
    keepalive_s: int
    status_period_s: float  # every status topic at least this often
    status_min_interval_s: float  # measured values at most this often
    max_expiry_s: float  # a setpoint / limits command lives at most this long
    max_payload_bytes: int
    queue_max: int  # replies waiting for the broker
    reconnect_max_s: float  # back-off ceiling
    embedded_broker: bool  # `evse sim` starts amqtt on host:port (docs/mqtt-api.md)
    ha_discovery: bool
    ha_prefix: str
    local_mode: str  # without a CSMS: the operation mode the EMS gets (Q05/Q06) or "none"


def _read_secret(t: Table, key: str, base_dir: Path) -> str | None:
    name = t.opt_str(key)
    if name is None:
        return None
    path = resolve_path(base_dir, name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(t.key(key), name, f"cannot read: {exc}") from None
    secret = text.rstrip("\r\n")
    if not secret or "\n" in secret:
        raise ConfigError(t.key(key), name, "must hold the password on one line")
    return secret


def _opt_path(t: Table, key: str, base_dir: Path) -> Path | None:
    name = t.opt_str(key)
    if name is None:
        return None
    path = resolve_path(base_dir, name)
    if not path.is_file():
        raise ConfigError(t.key(key), name, "no such file")
    return path


def parse_mqtt(t: Table, base_dir: Path, has_ocpp: bool) -> MqttConfig:
    from evse.api.topics import check_prefix  # only stations with the API pay for it

    tls = t.get_bool("tls", False)
    cfg = MqttConfig(
        host=t.get_str("host", "127.0.0.1"),
        port=t.get_int("port", 8883 if tls else 1883, lo=1, hi=65535),
        tls=tls,
        ca_file=_opt_path(t, "ca_file", base_dir),
        cert_file=_opt_path(t, "cert_file", base_dir),
        key_file=_opt_path(t, "key_file", base_dir),
        username=t.opt_str("username"),
        password=_read_secret(t, "password_file", base_dir),
        topic_prefix=t.get_str("topic_prefix", "evse"),
        client_id=t.get_str("client_id", "evse-station"),
        protocol=t.choice("protocol", ("3.1.1", "5"), "3.1.1"),
        keepalive_s=t.get_int("keepalive_s", 30, lo=5, hi=3600),
        status_period_s=t.get_float("status_period_s", 30.0, lo=0.5, hi=3600.0),
        status_min_interval_s=t.get_float("status_min_interval_s", 1.0, lo=0.0, hi=60.0),
        max_expiry_s=t.get_float("max_expiry_s", 900.0, lo=1.0, hi=86400.0),
        max_payload_bytes=t.get_int("max_payload_bytes", 4096, lo=64, hi=65536),
        queue_max=t.get_int("queue_max", 1000, lo=10, hi=100_000),
        reconnect_max_s=t.get_float("reconnect_max_s", 30.0, lo=1.0, hi=600.0),
        embedded_broker=t.get_bool("embedded_broker", False),
        ha_discovery=t.get_bool("ha_discovery", False),
        ha_prefix=t.get_str("ha_prefix", "homeassistant"),
        local_mode=t.choice("local_mode", MQTT_LOCAL_MODES, "none"),
    )
    for key, prefix in (("topic_prefix", cfg.topic_prefix), ("ha_prefix", cfg.ha_prefix)):
        why = check_prefix(prefix)
        if why is not None:
            raise ConfigError(t.key(key), prefix, why)
    if not 1 <= len(cfg.client_id) <= 64 or not cfg.client_id.isprintable():
        raise ConfigError(t.key("client_id"), cfg.client_id, "must be 1-64 printable characters")
    if cfg.password is not None and cfg.username is None:
        raise ConfigError(t.key("password_file"), t.opt_str("password_file"),
                          "needs mqtt.username")
    if (cfg.cert_file is None) != (cfg.key_file is None):
        raise ConfigError(t.key("cert_file"), t.opt_str("cert_file"),
                          "cert_file and key_file go together")
    if (cfg.ca_file or cfg.cert_file) and not cfg.tls:
        raise ConfigError(t.key("tls"), False, "ca_file / cert_file need tls = true")
    if cfg.local_mode != "none" and has_ocpp:
        raise ConfigError(t.key("local_mode"), cfg.local_mode,
                          "only without [ocpp]: with a CSMS its operation mode is in force")
    if cfg.embedded_broker and cfg.tls:
        raise ConfigError(t.key("embedded_broker"), True, "the embedded broker has no TLS")
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
    mqtt: MqttConfig | None = None
    if root.has("mqtt"):
        mqtt = parse_mqtt(root.table("mqtt"), path.parent, ocpp is not None)
    slac: SlacConfig | None = None
    if root.has("slac"):  # SLAC and the pilot coordinator (evse/slac/config.py)
        from evse.slac.config import parse_slac

        slac = parse_slac(root.table("slac"), hal.evses, path.parent)
    iso = tuple(_segment_port(i, slac) for i in iso)
    sim_car: SimCarConfig | None = None
    sim_table = data.get("sim")
    if isinstance(sim_table, dict) and "car" in sim_table:  # hal leaves it to us
        from evse.sim.ev.plan import check_sim_car, parse_sim_car

        sim_car = parse_sim_car(Table(sim_table["car"], "sim.car"), path.parent)
        check_sim_car(sim_car, hal, iso, slac)
    return StationConfig(path, log_cfg, hal, controller, ocpp, iso, mqtt, slac, sim_car)


def _segment_port(iso: IsoConfig, slac: SlacConfig | None) -> IsoConfig:
    """`sdp_port = 0` on "lo": the port of the EVSE's simulated powerline segment."""
    if iso.transport.sdp_port != 0:
        return iso
    from evse.iso15118.sdp import segment_sdp_port

    if slac is None or slac.evse_id != iso.evse_id or slac.powerline is None:
        raise ConfigError("iso15118.sdp_port", 0, 'needs [slac] interface = "unix:DIR"')
    port = segment_sdp_port(str(slac.powerline))
    return replace(iso, transport=replace(iso.transport, sdp_port=port))


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
