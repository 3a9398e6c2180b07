"""Config: valid files load; every kind of bad value is rejected with the key named."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from evse.config import load_station, parse_station
from hal.config_reader import ConfigError
from tests.conftest import ROOT, sim_config


def _base() -> dict[str, Any]:
    return tomllib.loads((ROOT / "config" / "sim.toml").read_text())


def _reject(data: dict[str, Any], key: str, reason_part: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_station(data, ROOT / "config" / "sim.toml")
    assert info.value.key == key
    assert reason_part in info.value.reason
    assert key in str(info.value)


def test_sim_config_loads_with_typed_values() -> None:
    cfg = load_station(ROOT / "config" / "sim.toml")
    assert cfg.hal.period_s == pytest.approx(0.020)
    assert cfg.hal.evses[0].max_discharge_w == 11000.0
    assert cfg.hal.devices.mode == "sim"  # the simulated DC output has no transport yet
    assert cfg.hal.sim is not None and len(cfg.hal.sim.grid.events) == 2
    # relative paths resolve against the config file's folder
    assert cfg.hal.socket_path == (ROOT / "var" / "sim" / "hal.sock").resolve()
    assert [s.request_w for s in cfg.controller.schedule] == [-5000.0, 11000.0]
    assert cfg.hal.sim.house is not None and cfg.hal.sim.house.load_w(40.0) == -4000.0  # Q09


def test_generated_test_config_loads(tmp_path: Path) -> None:
    assert load_station(sim_config(tmp_path)).hal.keepalive_timeout_s == 0.5


@pytest.mark.parametrize(
    ("mutate", "key", "reason"),
    [
        (lambda d: d["hal"].pop("socket"), "hal.socket", "missing"),
        (lambda d: d["hal"].update(period_ms="fast"), "hal.period_ms", "number"),
        (lambda d: d["hal"].update(period_ms=0), "hal.period_ms", ">="),
        (lambda d: d["hal"].update(period_ms=float("nan")), "hal.period_ms", "finite"),
        (lambda d: d["hal"].update(periode_ms=20), "hal.periode_ms", "unknown key"),
        (lambda d: d.update(hall={}), "hall", "unknown section"),
        (lambda d: d["evse"][0].update(kind="ev"), "evse[0].kind", "one of"),
        (lambda d: d["evse"][0].update(id=True), "evse[0].id", "integer"),
        (lambda d: d["evse"][0].update(max_charge_w=-1), "evse[0].max_charge_w", ">="),
        (lambda d: d["evse"].append(dict(d["evse"][0])), "evse", "unique"),
        (lambda d: d.pop("evse"), "evse", "at least one"),
        (lambda d: d["devices"].update(mode="fpga"), "devices.mode", "one of"),
        (lambda d: d["logging"].update(level="loud"), "logging.level", "one of"),
        (lambda d: d["sim"]["ev"].update(pp_ampacity_a=16), "sim.ev.pp_ampacity_a", "IEC"),
        (
            lambda d: d["sim"]["grid"]["events"].append({"kind": "step", "at_s": 1.0}),
            "sim.grid.events[2]",
            "voltage_v or frequency_hz",
        ),
        (
            lambda d: d["sim"]["grid"]["events"][0].update(kind="jump"),
            "sim.grid.events[0].kind",
            "one of",
        ),
        (lambda d: d["controller"].update(pwm_duty_pct=2.0), "controller.pwm_duty_pct", "duty"),
        (lambda d: d["controller"].update(grid_limit_w=-1.0), "controller.grid_limit_w", ">="),
        (lambda d: d["sim"]["grid_meter"].update(house=1), "sim.grid_meter.house", "unknown"),
        (
            lambda d: d["controller"]["schedule"].reverse(),
            "controller.schedule",
            "must not decrease",
        ),
        (
            lambda d: d["controller"].update(keepalive_interval_s=5.0),
            "controller.keepalive_interval_s",
            "shorter than hal.keepalive_timeout_s",
        ),
    ],
)
def test_bad_value_names_the_key(mutate: Any, key: str, reason: str) -> None:
    data = _base()
    mutate(data)
    _reject(data, key, reason)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[hal\nsocket = 1\n")
    with pytest.raises(ConfigError) as info:
        load_station(bad)
    assert info.value.key == "<file>" and "TOML" in info.value.reason


def test_config_check_cli_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "evse.cli", "config", "check", str(ROOT / "config" / "sim.toml")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "ok" in ok.stdout
    bad = tmp_path / "station.toml"
    bad.write_text(sim_config(tmp_path).read_text().replace("period_ms = 20", "period_ms = -5"))
    res = subprocess.run(
        [sys.executable, "-m", "evse.cli", "config", "check", str(bad)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2  # the same code as `evse run` / `evse hal` (EXIT_CONFIG)
    assert "hal.period_ms" in res.stderr and "-5" in res.stderr


def test_bad_config_hal_exits_nonzero_before_devices(tmp_path: Path) -> None:
    """The daemon refuses to start: no socket, no state folder, non-zero exit."""
    cfg = sim_config(tmp_path)
    cfg.write_text(cfg.read_text().replace('kind = "dc"', 'kind = "dcc"'))
    res = subprocess.run(
        [sys.executable, "-m", "evse.cli", "hal", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode != 0
    assert "evse[0].kind" in res.stderr
    assert not (tmp_path / "hal.sock").exists()
    assert not (tmp_path / "state").exists()


def _example_in(tmp_path: Path, with_pki: bool) -> Path:
    """The shipped example, in a folder with (or without) its certificate files."""
    # no gridcodes/ beside it: the presets ship with the package
    target = tmp_path / "station.toml"
    target.write_text((ROOT / "config" / "station.example.toml").read_text())
    if with_pki:
        # Real PEM files: the config check loads them as the TLS connection will.
        from tests.integration.ocpp.ocpp_pki import TestCa

        pki = tmp_path / "pki"
        ca = TestCa(pki)
        station = ca.issue("CS-0001", server=False)
        ca.path.rename(pki / "csms-root-ca.pem")
        station.cert.rename(pki / "cs-0001.pem")
        station.key.rename(pki / "cs-0001.key")
    return target


def test_example_station_config_loads(tmp_path: Path) -> None:
    cfg = load_station(_example_in(tmp_path, with_pki=True))
    assert cfg.hal.socket_path == Path("/run/evse-hal/hal.sock")
    assert cfg.hal.devices.mode == "hardware" and cfg.hal.sim is None
    assert cfg.hal.devices.evses[0].mcu.port == "/dev/ttymxc1"
    assert cfg.hal.grid.preset == "vde-ar-n-4105"
    assert cfg.ocpp is not None and cfg.ocpp.security_profile == 3
    assert cfg.ocpp.station_id == "CS-0001"
    assert cfg.controller.grid_limit_w == 17000.0 and cfg.hal.devices.grid_meter is not None


def test_example_without_certificates_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_station(_example_in(tmp_path, with_pki=False))
    assert info.value.key == "ocpp.ca_cert"


def test_ocpp_section_errors_name_the_key() -> None:
    data = _base()
    data["ocpp"] = {
        "csms_url": "http://csms",
        "station_id": "CS1",
        "basic_auth_password": "0123456789abcdef",
    }
    _reject(data, "ocpp.csms_url", "ws")
