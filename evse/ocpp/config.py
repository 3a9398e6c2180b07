"""The `[ocpp]` table of the station config, validated into `OcppConfig`.

Example:

    [ocpp]
    csms_url = "wss://csms.example.com/ocpp"   # the OCPP-J endpoint; station id is appended
    station_id = "CS001"
    security_profile = 2                       # 1 basic auth/ws, 2 TLS+basic, 3 TLS+client cert
    basic_auth_password = "0123456789abcdef"   # profiles 1, 2 (16..40 characters)
    ca_cert = "pki/csms-ca.pem"                # profiles 2, 3; system store when absent
    client_cert = "pki/cs.pem"                 # profile 3
    client_key = "pki/cs.key"                  # profile 3
    versions = ["2.1", "2.0.1"]                # offered in this order
    message_timeout = 30
    queue_all_messages = false                 # persist non-transaction messages too
    queue_max_rows = 50000                     # queue cap; beyond it Updated meter values
    queue_max_bytes = 33554432                 # are thinned out (never Started / Ended)
    reconnect_probe_s = 0                      # > 0: retry at once when the CSMS returns
    vendor_name = "ACME"
    model = "V2G-11"
    evses = 1
    [ocpp.variables]                           # device-model seeds: "Component.Variable"
    "OCPPCommCtrlr.HeartbeatInterval" = 300
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from evse.ocpp.connection import TlsFiles, tls_files_problem, url_problem
from evse.ocpp.der_device_model import UnitRating
from evse.ocpp.device_model import load_specs, seed_problem
from evse.ocpp.schemas import OcppVersion
from hal.config_reader import ConfigError, Table

_VERSION_NAMES = {"2.1": OcppVersion.V21, "2.0.1": OcppVersion.V201}
# identifierString (Part 2, 2.1.4) without ':' (OCPP-J 3.1.1: used as basic-auth user)
_IDENTIFIER = re.compile(r"^[a-zA-Z0-9*\-_=+|@.]{1,48}$")


@dataclass(frozen=True, slots=True)
class OcppConfig:
    csms_url: str
    station_id: str
    security_profile: int = 1
    basic_auth_password: str | None = None
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    versions: tuple[OcppVersion, ...] = (OcppVersion.V21, OcppVersion.V201)
    message_timeout: float = 30.0
    queue_all_messages: bool = False
    queue_max_normal: int = 1000
    queue_max_rows: int = 50_000  # persisted queue cap: rows ...
    queue_max_bytes: int = 32 * 1024 * 1024  # ... and payload bytes (thinned beyond)
    reconnect_probe_s: float = 0.0  # > 0: probe the CSMS host during long back-offs
    vendor_name: str = "evse-stack"
    model: str = "evse-v2g"
    serial_number: str | None = None
    firmware_version: str | None = None
    evses: int = 1
    variables: dict[str, str | int | float | bool] = field(default_factory=dict)
    # The units' ratings ([[evse]], [grid]): the DER controllers' nameplate (R01/R02).
    units: tuple[UnitRating, ...] = ()
    # Simulation only (`evse sim --speed`): the OCPP side's clock runs this much faster.
    clock_speed: float = 1.0


def _path(table: Table, name: str, base_dir: Path) -> Path | None:
    raw = table.opt_str(name)
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ConfigError(table.key(name), raw, f"file not found: {path}")
    return path


def parse_ocpp(table: Table, base_dir: Path) -> OcppConfig:
    """Validate the `[ocpp]` table; relative file paths are taken from `base_dir`."""
    url = table.get_str("csms_url")
    problem = url_problem(url)
    if problem is not None:
        raise ConfigError(table.key("csms_url"), url, problem)
    parts = urlsplit(url)
    station_id = table.get_str("station_id")
    if not _IDENTIFIER.match(station_id):
        raise ConfigError(
            table.key("station_id"), station_id, "must be 1-48 identifierString characters, no ':'"
        )
    profile = table.get_int("security_profile", 1, lo=1, hi=3)
    if (profile == 1) != (parts.scheme == "ws"):
        raise ConfigError(
            table.key("csms_url"),
            url,
            f"security profile {profile} needs " + ("ws://" if profile == 1 else "wss://"),
        )
    password = table.opt_str("basic_auth_password")
    if profile in (1, 2) and password is None:
        raise ConfigError(
            table.key("basic_auth_password"), None, f"required by security profile {profile}"
        )
    if password is not None and not 16 <= len(password) <= 40:
        # passwordString: at least 16, at most BasicAuthPassword maxLimit (40 here).
        raise ConfigError(table.key("basic_auth_password"), "***", "must be 16-40 characters")
    ca_cert = _path(table, "ca_cert", base_dir)
    client_cert = _path(table, "client_cert", base_dir)
    client_key = _path(table, "client_key", base_dir)
    if profile == 3 and (client_cert is None or client_key is None):
        missing = "client_cert" if client_cert is None else "client_key"
        raise ConfigError(table.key(missing), None, "required by security profile 3")
    # Loaded now exactly as the connection will load them: a file OpenSSL refuses is a
    # config error here, not a client that dies at its first connect.
    tls_problem = tls_files_problem(TlsFiles(ca_cert, client_cert, client_key))
    if tls_problem is not None:
        name, reason = tls_problem
        raise ConfigError(table.key(name), table.opt_str(name), reason)
    names = table.raw("versions", ["2.1", "2.0.1"])
    if (
        not isinstance(names, list)
        or not names
        or any(not isinstance(n, str) or n not in _VERSION_NAMES for n in names)
        or len(set(names)) != len(names)
    ):
        raise ConfigError(table.key("versions"), names, 'must be a list from "2.1", "2.0.1"')
    raw_vars = table.raw("variables", {})
    if not isinstance(raw_vars, dict):
        raise ConfigError(table.key("variables"), raw_vars, "must be a table")
    variables: dict[str, str | int | float | bool] = {}
    specs = load_specs()
    for key, value in raw_vars.items():
        if not isinstance(value, str | int | float | bool) or key.count(".") < 1:
            raise ConfigError(
                f"{table.key('variables')}.{key}",
                value,
                'needs a "Component.Variable" key and a scalar value',
            )
        # The device model's own rule (type, limits, valuesList), as the station applies it.
        var_problem = seed_problem(specs, key, value)
        if var_problem is not None:
            raise ConfigError(f"{table.key('variables')}.{key}", value, var_problem)
        variables[key] = value
    config = OcppConfig(
        csms_url=url,
        station_id=station_id,
        security_profile=profile,
        basic_auth_password=password,
        ca_cert=ca_cert,
        client_cert=client_cert,
        client_key=client_key,
        versions=tuple(_VERSION_NAMES[n] for n in names),
        message_timeout=table.get_float("message_timeout", 30.0, lo=1.0, hi=3600.0),
        queue_all_messages=table.get_bool("queue_all_messages", False),
        queue_max_normal=table.get_int("queue_max_normal", 1000, lo=10, hi=1_000_000),
        queue_max_rows=table.get_int("queue_max_rows", 50_000, lo=100, hi=10_000_000),
        queue_max_bytes=table.get_int(
            "queue_max_bytes", 32 * 1024 * 1024, lo=64 * 1024, hi=4 * 1024**3
        ),
        reconnect_probe_s=table.get_float("reconnect_probe_s", 0.0, lo=0.0, hi=3600.0),
        vendor_name=table.get_str("vendor_name", "evse-stack"),
        model=table.get_str("model", "evse-v2g"),
        serial_number=table.opt_str("serial_number"),
        firmware_version=table.opt_str("firmware_version"),
        evses=table.get_int("evses", 1, lo=1, hi=16),
        variables=variables,
        clock_speed=table.get_float("clock_speed", 1.0, lo=1.0, hi=1000.0),
    )
    table.reject_unknown()
    return config
