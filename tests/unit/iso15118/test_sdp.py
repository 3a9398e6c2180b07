"""SDP responder core (ISO 15118-2 SDP, used by -20): request datagram in,
response datagram out; the security answered follows `tls`."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.iso15118 import v2gtp
from evse.iso15118.sdp import SdpOffer, SdpResponder, TlsPolicy, link_local_address

ADDR = "fe80::1:2:3:4"


def ask(policy: TlsPolicy, security: int, transport: int = 0x00) -> tuple[int, int, int] | None:
    responder = SdpResponder(
        SdpOffer(
            ADDR,
            50000 if policy != "required" else None,
            50001 if policy != "none" else None,
            policy,
        )
    )
    out = responder.answer(v2gtp.pack(v2gtp.SDP_REQ, bytes([security, transport])))
    if out is None:
        return None
    msg = v2gtp.unpack(out)
    assert isinstance(msg, v2gtp.V2gtpMessage) and msg.payload_type == v2gtp.SDP_RES
    assert len(msg.payload) == 20
    assert msg.payload[:16] == bytes.fromhex("fe800000000000000001000200030004")
    return int.from_bytes(msg.payload[16:18], "big"), msg.payload[18], msg.payload[19]


@pytest.mark.parametrize(
    ("policy", "asked", "answer"),
    [
        ("none", 0x00, (50000, 0x10, 0x00)),
        ("none", 0x10, (50000, 0x10, 0x00)),
        ("required", 0x10, (50001, 0x00, 0x00)),
        ("required", 0x00, (50001, 0x00, 0x00)),
        ("optional", 0x00, (50001, 0x00, 0x00)),
        ("optional", 0x10, (50000, 0x10, 0x00)),
    ],
)
def test_sdp_answer_port_and_security_follow_the_tls_policy(
    policy: TlsPolicy, asked: int, answer: tuple[int, int, int]
) -> None:
    assert ask(policy, asked) == answer


def test_sdp_udp_transport_asked_is_answered_with_tcp_the_only_one_offered() -> None:
    assert ask("none", 0x10, transport=0x10) == (50000, 0x10, 0x00)


@pytest.mark.parametrize(
    "datagram",
    [
        v2gtp.pack(v2gtp.SDP_REQ, b"\x10"),  # short payload
        v2gtp.pack(v2gtp.SDP_REQ, b"\x10\x00\x00"),  # long payload
        v2gtp.pack(v2gtp.SDP_REQ, b"\x20\x00"),  # unknown security
        v2gtp.pack(v2gtp.SDP_REQ, b"\x10\x20"),  # unknown transport
        v2gtp.pack(v2gtp.SDP_RES, b"\x10\x00"),  # not a request
        b"\x02\xfd\x90\x00\x00\x00\x00\x02\x10\x00",  # wrong V2GTP version
        b"\x01\xfe\x90\x00\x00\x00\x00\x05\x10\x00",  # length lies
        b"",
    ],
)
def test_sdp_invalid_requests_are_ignored(datagram: bytes) -> None:
    responder = SdpResponder(SdpOffer(ADDR, 50000, None, "none"))
    assert responder.answer(datagram) is None


def test_link_local_address_skips_tentative_and_global(tmp_path: Path) -> None:
    table = tmp_path / "if_inet6"
    table.write_text(
        "20010db8000000000000000000000001 03 40 00 80 eth1\n"  # global
        "fe800000000000000000000000000009 03 40 20 c0 eth1\n"  # link, tentative (0x40)
        "fe800000000000000000000000000007 04 40 20 80 eth2\n"
        "fe800000000000000000000000000008 03 40 20 80 eth1\n"
    )
    assert link_local_address("eth1", table) == "fe80::8"
    assert link_local_address("eth9", table) is None
    assert link_local_address("eth1", tmp_path / "missing") is None
