"""V2GTP header and framer (ISO 15118-2 7.8.3, used by -20)."""

from __future__ import annotations

import random

from evse.iso15118 import v2gtp
from evse.iso15118.v2gtp import Framer, V2gtpError, V2gtpMessage


def test_pack_layout_version_inverse_type_length_big_endian() -> None:
    assert v2gtp.pack(0x8002, b"\x80\x01") == bytes.fromhex("01fe8002000000028001")


def test_framer_reassembles_messages_split_anywhere() -> None:
    stream = v2gtp.pack(v2gtp.SAP, b"abc") + v2gtp.pack(v2gtp.DC, b"") + v2gtp.pack(
        v2gtp.COMMON, bytes(range(200))
    )
    rng = random.Random(7)
    for _ in range(50):
        framer = Framer()
        out: list[V2gtpMessage | V2gtpError] = []
        i = 0
        while i < len(stream):
            n = rng.randint(1, 17)
            out += framer.feed(stream[i : i + n])
            i += n
        assert out == [
            V2gtpMessage(v2gtp.SAP, b"abc"),
            V2gtpMessage(v2gtp.DC, b""),
            V2gtpMessage(v2gtp.COMMON, bytes(range(200))),
        ]
        assert framer.buffered == 0


def test_wrong_version_is_an_error_and_the_framer_stays_closed() -> None:
    framer = Framer()
    out = framer.feed(bytes.fromhex("02fd800200000000") + v2gtp.pack(v2gtp.SAP, b"x"))
    assert len(out) == 1 and isinstance(out[0], V2gtpError) and out[0].code == "version"
    assert framer.feed(v2gtp.pack(v2gtp.SAP, b"x")) == []


def test_unknown_payload_type_is_an_error() -> None:
    out = Framer().feed(bytes.fromhex("01fe123400000000"))
    assert isinstance(out[0], V2gtpError) and out[0].code == "payload_type"


def test_length_above_cap_is_refused_before_buffering() -> None:
    framer = Framer(max_payload=1000)
    out = framer.feed(bytes.fromhex("01fe8002000003e9"))
    assert isinstance(out[0], V2gtpError) and out[0].code == "length"
    assert framer.buffered == 0


def test_message_before_error_is_still_delivered() -> None:
    out = Framer().feed(v2gtp.pack(v2gtp.AC, b"ok") + b"\x00" * 8)
    assert out[0] == V2gtpMessage(v2gtp.AC, b"ok")
    assert isinstance(out[1], V2gtpError)


def test_unpack_datagram_checks_exact_length() -> None:
    assert v2gtp.unpack(v2gtp.pack(v2gtp.SDP_REQ, b"\x10\x00")) == V2gtpMessage(
        v2gtp.SDP_REQ, b"\x10\x00"
    )
    bad = v2gtp.unpack(v2gtp.pack(v2gtp.SDP_REQ, b"\x10\x00") + b"\x00")
    assert isinstance(bad, V2gtpError) and bad.code == "length"


def test_random_bytes_never_raise() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        framer = Framer(max_payload=4096)
        for _ in range(5):
            framer.feed(rng.randbytes(rng.randint(0, 40)))
