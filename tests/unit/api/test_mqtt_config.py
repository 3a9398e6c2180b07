"""`[mqtt]` (evse/config.py): typed values, defaults, the password from a file, and every
bad value rejected with its key named."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from evse.config import load_station, parse_station
from hal.config_reader import ConfigError
from tests.conftest import ROOT


def _base(mqtt: dict[str, Any], ocpp: bool = False) -> dict[str, Any]:
    data = tomllib.loads((ROOT / "config" / "sim.toml").read_text())
    data["mqtt"] = mqtt
    if ocpp:
        data["ocpp"] = {"csms_url": "ws://127.0.0.1:9/ocpp", "station_id": "CS1",
                        "basic_auth_password": "0123456789abcdef"}
    return data


def _load(tmp: Path, mqtt: dict[str, Any], ocpp: bool = False) -> Any:
    return parse_station(_base(mqtt, ocpp), tmp / "station.toml").mqtt


def test_sim_config_runs_the_embedded_broker_and_defaults_are_sane(tmp_path: Path) -> None:
    cfg = load_station(ROOT / "config" / "sim.toml").mqtt
    assert cfg is not None and cfg.embedded_broker and cfg.port == 1883
    d = _load(tmp_path, {})
    assert (d.host, d.port, d.protocol, d.topic_prefix) == ("127.0.0.1", 1883, "3.1.1", "evse")
    assert d.local_mode == "none" and not d.ha_discovery and d.password is None
    assert _load(tmp_path, {"tls": True}).port == 8883


def test_password_comes_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    cfg = _load(tmp_path, {"username": "evse", "password_file": "pw"})
    assert cfg.password == "s3cret" and cfg.username == "evse"


@pytest.mark.parametrize(
    ("mqtt", "key", "reason"),
    [
        ({"hots": "x"}, "mqtt.hots", "unknown key"),
        ({"port": 0}, "mqtt.port", ">= 1"),
        ({"port": "1883"}, "mqtt.port", "integer"),
        ({"topic_prefix": "a/#"}, "mqtt.topic_prefix", "wildcards"),
        ({"topic_prefix": "/a"}, "mqtt.topic_prefix", "empty level"),
        ({"ha_prefix": ""}, "mqtt.ha_prefix", "1-128"),
        ({"client_id": ""}, "mqtt.client_id", "1-64"),
        ({"protocol": "4"}, "mqtt.protocol", "one of"),
        ({"status_period_s": 0.0}, "mqtt.status_period_s", ">="),
        ({"max_expiry_s": 0.5}, "mqtt.max_expiry_s", ">="),
        ({"username": "u", "password_file": "missing"}, "mqtt.password_file", "cannot read"),
        ({"password_file": "pw"}, "mqtt.password_file", "needs mqtt.username"),
        ({"ca_file": "missing.pem", "tls": True}, "mqtt.ca_file", "no such file"),
        ({"ca_file": "pw"}, "mqtt.tls", "need tls"),
        ({"local_mode": "CentralSetpoint"}, "mqtt.local_mode", "one of"),
        ({"embedded_broker": True, "tls": True}, "mqtt.embedded_broker", "no TLS"),
    ],
)
def test_bad_mqtt_value_names_the_key(
    tmp_path: Path, mqtt: dict[str, Any], key: str, reason: str
) -> None:
    (tmp_path / "pw").write_text("x\n")
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, mqtt)
    assert info.value.key == key and reason in info.value.reason, info.value


def test_local_mode_only_without_a_csms(tmp_path: Path) -> None:
    assert _load(tmp_path, {"local_mode": "ExternalLimits"}).local_mode == "ExternalLimits"
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, {"local_mode": "ExternalSetpoint"}, ocpp=True)
    assert info.value.key == "mqtt.local_mode"
