"""`[ocpp]` config errors are found before anything runs (issue 10, Configuration).

`evse config check` runs every check `evse run` and `evse hal` run: the URL (scheme,
host, port 1-65535), the certificates and key loaded as the TLS connection loads them,
`[ocpp.variables]` against the device model (name, TOML type, dataType, limits). All
three commands exit with the same code, naming the key, before a state directory exists.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evse.ocpp.config import parse_ocpp
from hal.config_reader import ConfigError, Table
from tests.conftest import sim_config
from tests.integration.ocpp.ocpp_pki import TestCa

BASE: dict[str, Any] = {
    "csms_url": "ws://csms.example.com:9000/ocpp",
    "station_id": "CS1",
    "basic_auth_password": "0123456789abcdef",
}


def reject(tmp_path: Path, changes: dict[str, Any], key: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_ocpp(Table({**BASE, **changes}, "ocpp"), tmp_path)
    assert info.value.key == key, info.value
    return info.value


@pytest.mark.parametrize(
    "url",
    [
        "ws://csms.example.com:99999/ocpp",
        "ws://csms.example.com:0/ocpp",
        "ws://csms example.com/ocpp",
        "ws://csms.example.com:port/ocpp",
        "ws:///ocpp",
        "ws://user:pw@csms.example.com/ocpp",
    ],
)
def test_csms_url_needs_host_and_port_1_65535(tmp_path: Path, url: str) -> None:
    reject(tmp_path, {"csms_url": url}, "ocpp.csms_url")


def test_ipv6_and_plain_hosts_are_fine(tmp_path: Path) -> None:
    for url in ("ws://[::1]:9000/ocpp", "ws://10.0.0.1/ocpp", "ws://csms-1.local:1/o"):
        parse_ocpp(Table({**BASE, "csms_url": url}, "ocpp"), tmp_path)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    ca = TestCa(tmp_path / "pki")
    client = ca.issue("CS1", server=False)
    other = TestCa(tmp_path / "pki2", "Other").issue("CS1", server=False)
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    return {
        "ca": str(ca.path),
        "cert": str(client.cert),
        "key": str(client.key),
        "other_key": str(other.key),
        "junk": str(junk),
    }


def test_a00_tls_files_are_loaded_at_config_time(tmp_path: Path, pki: dict[str, str]) -> None:
    tls = {
        "csms_url": "wss://csms.example.com/ocpp",
        "security_profile": 3,
        "ca_cert": pki["ca"],
        "client_cert": pki["cert"],
        "client_key": pki["key"],
    }
    parse_ocpp(Table({**BASE, **tls}, "ocpp"), tmp_path)  # the good set loads
    reject(tmp_path, {**tls, "ca_cert": pki["junk"]}, "ocpp.ca_cert")
    reject(tmp_path, {**tls, "ca_cert": pki["key"]}, "ocpp.ca_cert")
    reject(tmp_path, {**tls, "client_cert": pki["junk"]}, "ocpp.client_cert")
    reject(tmp_path, {**tls, "client_key": pki["junk"]}, "ocpp.client_key")
    reject(tmp_path, {**tls, "client_key": pki["cert"]}, "ocpp.client_key")
    reject(tmp_path, {**tls, "client_key": pki["other_key"]}, "ocpp.client_key")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OCPPCommCtrlr.NoSuchVariable", 1),  # unknown
        ("NoSuchCtrlr.HeartbeatInterval", 1),
        ("OCPPCommCtrlr.HeartbeatInterval", 0),  # below minLimit 1
        ("OCPPCommCtrlr.HeartbeatInterval", 2**40),  # beyond a 32-bit integer
        ("OCPPCommCtrlr.HeartbeatInterval", "300"),  # mistyped: a string
        ("OCPPCommCtrlr.HeartbeatInterval", True),  # mistyped: a boolean
        ("OCPPCommCtrlr.HeartbeatInterval", 1.5),
        ("OCPPCommCtrlr.QueueAllMessages", 1),  # boolean wanted
        ("ISO15118Ctrlr.CountryName", "DEU"),  # maxLength 2
        ("TxCtrlr.TxStartPoint", "Teleport"),  # valuesList
        ("SmartChargingCtrlr.LimitChangeSignificance", float("inf")),
    ],
)
def test_b05_variables_are_validated_against_the_device_model(
    tmp_path: Path, name: str, value: object
) -> None:
    reject(tmp_path, {"variables": {name: value}}, f"ocpp.variables.{name}")


def test_good_variables_pass(tmp_path: Path) -> None:
    cfg = parse_ocpp(
        Table(
            {
                **BASE,
                "variables": {
                    "OCPPCommCtrlr.HeartbeatInterval": 60,
                    "OCPPCommCtrlr.MessageTimeout@Default": 10,
                    "SmartChargingCtrlr.LimitChangeSignificance": 2,
                    "TxCtrlr.TxStartPoint": "EVConnected,Authorized",
                    "OCPPCommCtrlr.QueueAllMessages": True,
                },
            },
            "ocpp",
        ),
        tmp_path,
    )
    assert cfg.variables["OCPPCommCtrlr.HeartbeatInterval"] == 60


BAD_OCPP = [
    ('csms_url = "ws://127.0.0.1:99999/ocpp"', "ocpp.csms_url"),
    ('csms_url = "ws://bad host/ocpp"', "ocpp.csms_url"),
    ('csms_url = "ws://127.0.0.1:9/o"\n[ocpp.variables]\n"OCPPCommCtrlr.Nope" = 1',
     "ocpp.variables.OCPPCommCtrlr.Nope"),
    (
        'csms_url = "ws://127.0.0.1:9/o"\n[ocpp.variables]\n'
        '"OCPPCommCtrlr.HeartbeatInterval" = "often"',
        "ocpp.variables.OCPPCommCtrlr.HeartbeatInterval",
    ),
]


@pytest.mark.parametrize(("section", "key"), BAD_OCPP)
def test_config_check_run_and_hal_fail_alike_before_creating_state(
    tmp_path: Path, section: str, key: str
) -> None:
    cfg = sim_config(tmp_path)
    state = tmp_path / "evse-state"
    text = cfg.read_text() + f'state_dir = "{state}"\n'
    text += f'\n[ocpp]\nstation_id = "CS1"\nbasic_auth_password = "0123456789abcdef"\n{section}\n'
    cfg.write_text(text)
    codes = set()
    for args in (["config", "check", str(cfg)], ["run", "--config", str(cfg)],
                 ["hal", "--config", str(cfg)]):
        res = subprocess.run(
            [sys.executable, "-m", "evse.cli", *args], capture_output=True, text=True, timeout=60
        )
        assert key in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr
        codes.add(res.returncode)
        assert not state.exists() and not (tmp_path / "state").exists()
        assert not (tmp_path / "hal.sock").exists()
    assert codes == {2}
