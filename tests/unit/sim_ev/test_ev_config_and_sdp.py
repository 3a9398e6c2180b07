"""Our EV's configuration (errors name the key) and its SDP messages (-20 / -2 7.10)."""

from __future__ import annotations

from typing import Any

import pytest

from evse.iso15118 import v2gtp
from evse.sim.ev import sdp_client
from evse.sim.ev.battery import Battery
from evse.sim.ev.config import EvConfigError, PowerStep, load


def test_load_reads_every_kind_of_key() -> None:
    cfg = load({"service": "DC_BPT", "control_mode": "Scheduled", "tls": True,
                "soc_start": 55, "script": [{"at_s": 0, "power_w": 5000},
                                            {"at_s": 10, "power_w": -3000}],
                "pause_at_s": None, "tls_ca_file": "/x/root.pem", "departure_s": 600})
    assert cfg.bpt and cfg.dc and cfg.tls and cfg.soc_start == 55.0
    assert cfg.script == (PowerStep(0.0, 5000.0), PowerStep(10.0, -3000.0))
    assert cfg.wanted_w(5) == 5000.0 and cfg.wanted_w(10) == -3000.0


def test_discharge_is_never_wanted_without_bpt() -> None:
    assert load({"service": "AC", "script": [{"at_s": 0, "power_w": -3000}]}).wanted_w(1) == 0


@pytest.mark.parametrize(("doc", "key"), [
    ({"service": "WPT"}, "service"),
    ({"control_mode": "Fast"}, "control_mode"),
    ({"soc_start": "half"}, "soc_start"),
    ({"script": [{"at_s": 0}]}, "script[0]"),
    ({"tls": "yes"}, "tls"),
    ({"colour": "red"}, "colour"),
    ({"soc_start": 120}, "soc_start"),
])
def test_bad_config_names_the_key(doc: dict[str, Any], key: str) -> None:
    with pytest.raises(EvConfigError, match=key.replace("[", r"\[")):
        load(doc)


def test_sdp_request_asks_for_tls_or_not_over_tcp() -> None:
    assert sdp_client.request(True) == bytes.fromhex("01fe9000000000020000")
    assert sdp_client.request(False) == bytes.fromhex("01fe9000000000021000")


def test_sdp_answer_parsed_and_bad_answers_named() -> None:
    payload = bytes.fromhex("fe800000000000000000000000000001") + bytes((0xD4, 0x31, 0x10, 0))
    answer = sdp_client.parse_answer(v2gtp.pack(v2gtp.SDP_RES, payload))
    assert answer == sdp_client.SdpAnswer("fe80::1", 0xD431, tls=False)
    assert "not an SDP response" in str(sdp_client.parse_answer(
        v2gtp.pack(v2gtp.SDP_REQ, b"\x10\x00")))
    assert "not V2GTP" in str(sdp_client.parse_answer(b"\x02\xfd" + bytes(8)))
    bad_transport = payload[:-1] + b"\x11"
    assert "transport" in str(sdp_client.parse_answer(v2gtp.pack(v2gtp.SDP_RES, bad_transport)))


def test_battery_integrates_both_ways_and_clamps() -> None:
    b = Battery(capacity_wh=1000.0, soc=50.0)
    b.integrate(3600.0, 100.0)  # 100 Wh in
    b.integrate(-1800.0, 100.0)  # 50 Wh out
    assert (b.energy_in_wh, b.energy_out_wh) == pytest.approx((100.0, 50.0))
    assert b.soc == pytest.approx(55.0)
    b.integrate(3600.0, 3600.0)
    assert b.soc == 100.0
    assert Battery(1000.0, 0.0).voltage < Battery(1000.0, 100.0).voltage


def test_ev_without_a_secc_ends_failed_not_with_a_traceback() -> None:
    """No SDP answer within its tries: a clear result, no exception out of `run`."""
    import asyncio

    from evse.sim.ev import client
    from evse.sim.ev.config import EvConfig

    result = asyncio.run(client.run(EvConfig(sdp_tries=2), "lo"))
    assert result.outcome == "failed" and result.reason.startswith("no session")
    assert result.sessions == 0
