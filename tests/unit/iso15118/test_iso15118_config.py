"""`[[iso15118]]`: a valid table loads into the SECC's typed config (defaults from the
unit), and every bad value is rejected with its key named."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from evse.config import parse_station
from evse.iso15118.d20.price_schedule import PriceOffer
from hal.config_reader import ConfigError
from tests.conftest import ROOT

SIM = ROOT / "config" / "sim.toml"


def _base(**iso: Any) -> dict[str, Any]:
    data = tomllib.loads(SIM.read_text())
    table = {"evse": 1, "interface": "eth1", "evseid": "DE*ABC*E1"}
    table.update(iso)
    data["iso15118"] = [table]
    return data


def test_iso15118_defaults_follow_the_dc_unit() -> None:
    cfg = parse_station(_base(), SIM)
    (iso,) = cfg.iso15118
    assert iso.evse_id == 1 and iso.assume_link
    assert iso.secc.services == ("DC", "DC_BPT")  # sim.toml's EVSE 1 is a DC V2G unit
    assert iso.secc.control_modes == ("Scheduled", "Dynamic")
    lim = iso.secc.limits
    assert (lim.max_charge_w, lim.max_discharge_w, lim.min_v, lim.max_v) == (
        11000.0,
        11000.0,
        150.0,
        500.0,
    )
    assert lim.max_charge_a == pytest.approx(22.0)
    assert iso.transport.tls == "none" and iso.transport.cert_file is None
    assert iso.secc.sequence_timeout_s == 60.0


def test_iso15118_tls_files_resolve_against_the_config(tmp_path: Path) -> None:
    for name in ("chain.pem", "key.pem", "oem.pem"):
        (tmp_path / name).write_text("x")
    data = _base(
        tls="required",
        cert_chain=str(tmp_path / "chain.pem"),
        private_key=str(tmp_path / "key.pem"),
        oem_roots=str(tmp_path / "oem.pem"),
        key_log="keys.log",
        services=["DC"],
        control_modes=["Dynamic"],
    )
    (iso,) = parse_station(data, SIM).iso15118
    assert iso.transport.cert_file == tmp_path / "chain.pem"
    assert iso.transport.key_log == (ROOT / "config" / "keys.log").resolve()
    assert iso.secc.services == ("DC",) and iso.secc.control_modes == ("Dynamic",)


@pytest.mark.parametrize(
    ("iso", "key", "reason"),
    [
        ({"evse": 9}, "iso15118[0].evse", "no [[evse]]"),
        ({"interface": ""}, "iso15118[0].interface", "interface name"),
        ({"interface": "a-very-long-interface"}, "iso15118[0].interface", "interface name"),
        ({"services": ["AC"]}, "iso15118[0].services", "not a service of a dc EVSE"),
        ({"services": ["DC", "WPT"]}, "iso15118[0].services", "one of"),
        ({"services": []}, "iso15118[0].services", "non-empty"),
        ({"services": ["DC", "DC"]}, "iso15118[0].services", "twice"),
        ({"control_modes": ["Smart"]}, "iso15118[0].control_modes", "one of"),
        ({"tls": "maybe"}, "iso15118[0].tls", "one of"),
        ({"tls": "required"}, "iso15118[0].cert_chain", "required"),
        ({"tls": "optional", "cert_chain": "nope.pem"}, "iso15118[0].cert_chain", "no such"),
        ({"max_charge_w": 20000.0}, "iso15118[0].max_charge_w", "<="),
        ({"min_v": 600.0}, "iso15118[0].max_v", "above min_v"),
        ({"sequence_timeout_s": 0}, "iso15118[0].sequence_timeout_s", ">="),
        ({"evseid": ""}, "iso15118[0].evseid", "1-255"),
        ({"assume_link": "yes"}, "iso15118[0].assume_link", "true or false"),
        ({"tls_prot": 1}, "iso15118[0].tls_prot", "unknown key"),
        ({"price_schedule": "free"}, "iso15118[0].price_schedule", "one of"),
        ({"price_currency": "EURO"}, "iso15118[0].price_currency", "ISO 4217"),
        ({"price_language": "de-DE"}, "iso15118[0].price_language", "ISO 639"),
        ({"price_per_kwh": -0.1}, "iso15118[0].price_per_kwh", ">="),
        ({"price_levels": 3, "price_level": 3}, "iso15118[0].price_level", "below price_levels"),
    ],
)
def test_iso15118_bad_values_name_the_key(iso: dict[str, Any], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_station(_base(**iso), SIM)
    assert info.value.key == key
    assert reason in info.value.reason


def test_iso15118_one_table_per_evse() -> None:
    data = _base()
    data["iso15118"].append(dict(data["iso15118"][0], interface="eth2"))
    with pytest.raises(ConfigError) as info:
        parse_station(data, SIM)
    assert info.value.key == "iso15118" and "one [[iso15118]] per EVSE" in info.value.reason


def test_iso15118_bpt_needs_a_unit_that_can_discharge() -> None:
    data = _base(services=["DC", "DC_BPT"])
    data["evse"][0]["max_discharge_w"] = 0.0
    with pytest.raises(ConfigError) as info:
        parse_station(data, SIM)
    assert info.value.key == "iso15118[0].services" and "cannot discharge" in info.value.reason


def test_iso15118_price_schedule_keys() -> None:
    (iso,) = parse_station(_base(), SIM).iso15118
    assert iso.secc.price_offer is None  # a free station sends none (-20: optional)
    data = _base(price_schedule="absolute", price_currency="chf", price_per_kwh=0.42)
    (iso,) = parse_station(data, SIM).iso15118
    assert iso.secc.price_offer == PriceOffer("absolute", "CHF", "eng", 0.42, 1, 0)
    (iso,) = parse_station(_base(price_schedule="price_levels", price_levels=5,
                                 price_level=4), SIM).iso15118
    assert iso.secc.price_offer == PriceOffer("price_levels", "EUR", "eng", 0.0, 5, 4)
