"""The MCU link's sans-IO framing: COBS, CRC32, CBOR, resynchronisation (docs/mcu-protocol.md)."""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.devices.mcu_link import cobs
from hal.devices.mcu_link import messages as m
from hal.devices.mcu_link.frame import MAX_FRAME, FrameDecoder, FrameError, encode_frame

# `make test` runs a bounded number; `make fuzz` sets MCU_FUZZ_EXAMPLES for a long run.
FUZZ = int(os.environ.get("MCU_FUZZ_EXAMPLES", "200"))

STATUS = {
    "cp": "C",
    "duty": 5333,
    "pp": 32.0,
    "ct": True,
    "lock": True,
    "rcd": False,
    "err": [],
    "v": [23012, 23100, 22950],
    "f": 49985,
    "up": 1234,
}


@pytest.mark.parametrize(
    ("raw", "enc"),
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    ],
)
def test_cobs_known_vectors(raw: bytes, enc: bytes) -> None:
    assert cobs.encode(raw) == enc
    assert cobs.decode(enc) == raw


def test_cobs_254_byte_blocks() -> None:
    raw = bytes(range(1, 255)) * 3
    enc = cobs.encode(raw)
    assert 0 not in enc
    assert cobs.decode(enc) == raw


@settings(max_examples=300)
@given(st.binary(max_size=700))
def test_cobs_roundtrip_has_no_zero(raw: bytes) -> None:
    enc = cobs.encode(raw)
    assert 0 not in enc
    assert cobs.decode(enc) == raw


@pytest.mark.parametrize("bad", [b"\x05\x11", b"\x02\x00", b"\x00"])
def test_cobs_rejects_malformed(bad: bytes) -> None:
    with pytest.raises(cobs.CobsError):
        cobs.decode(bad)


def test_frame_roundtrip() -> None:
    frame = encode_frame(m.STATUS, 7, STATUS)
    assert frame.endswith(b"\x00") and frame.count(0) == 1
    (msg,) = FrameDecoder().feed(frame)
    assert msg == m.Message(m.STATUS, 7, STATUS)


def test_split_frames_at_every_boundary() -> None:
    frames = encode_frame(m.STATUS, 1, STATUS) + encode_frame(m.ACK, 2, {"re": 9, "ok": True})
    for cut in range(1, len(frames)):
        dec = FrameDecoder()
        events = dec.feed(frames[:cut]) + dec.feed(frames[cut:])
        assert [e.kind for e in events if isinstance(e, m.Message)] == [m.STATUS, m.ACK]
        assert not [e for e in events if isinstance(e, FrameError)]


def test_byte_by_byte() -> None:
    dec = FrameDecoder()
    events = []
    for b in encode_frame(m.STATUS, 3, STATUS):
        events += dec.feed(bytes([b]))
    assert [e.seq for e in events if isinstance(e, m.Message)] == [3]


def test_garbage_before_a_frame_costs_one_error_then_resyncs() -> None:
    dec = FrameDecoder()
    events = dec.feed(b"\xde\xad\xbe\xef\x13\x37" + encode_frame(m.STATUS, 4, STATUS))
    # The garbage and the frame are one "frame" up to the first 0x00: one error, frame lost.
    assert len(events) == 1 and isinstance(events[0], FrameError)
    (msg,) = dec.feed(encode_frame(m.STATUS, 5, STATUS))
    assert isinstance(msg, m.Message) and msg.seq == 5


def test_garbage_after_a_delimiter_does_not_touch_the_next_frame() -> None:
    dec = FrameDecoder()
    events = dec.feed(b"\x17\x42\x00" + encode_frame(m.STATUS, 6, STATUS))
    assert isinstance(events[0], FrameError)
    assert isinstance(events[1], m.Message) and events[1].seq == 6


def test_crc_error_is_reported_and_next_frame_decodes() -> None:
    payload = cbor2.dumps([m.STATUS, 1, STATUS])
    bad = cobs.encode(payload + struct.pack("<I", zlib.crc32(payload) ^ 1)) + b"\x00"
    dec = FrameDecoder()
    events = dec.feed(bad + encode_frame(m.STATUS, 2, STATUS))
    assert isinstance(events[0], FrameError) and events[0].reason == "crc"
    assert isinstance(events[1], m.Message) and events[1].seq == 2


def test_valid_crc_but_not_a_message() -> None:
    for obj, reason in (
        ([1, 2], "message"),
        ([0x55, 1, {}], "message"),
        ([m.SET_PWM, 1, {"duty": 10001}], "message"),
        ([m.STATUS, 1, {**STATUS, "cp": "X"}], "message"),
        ([m.STATUS, 1, {**STATUS, "pp": float("nan")}], "message"),
    ):
        payload = cbor2.dumps(obj)
        frame = cobs.encode(payload + struct.pack("<I", zlib.crc32(payload))) + b"\x00"
        (ev,) = FrameDecoder().feed(frame)
        assert isinstance(ev, FrameError) and ev.reason == reason, obj
    payload = b"\xff\xff\xff"  # not CBOR
    frame = cobs.encode(payload + struct.pack("<I", zlib.crc32(payload))) + b"\x00"
    (ev,) = FrameDecoder().feed(frame)
    assert isinstance(ev, FrameError) and ev.reason == "cbor"


def test_overlong_frame_is_dropped_until_next_delimiter() -> None:
    dec = FrameDecoder()
    events = dec.feed(b"\x01" * (MAX_FRAME + 10))
    assert [e.reason for e in events if isinstance(e, FrameError)] == ["too_long"]
    assert dec.feed(b"\x01" * 50) == []  # still discarding
    events = dec.feed(b"\x00" + encode_frame(m.KEEPALIVE, 9, {}))
    assert [e.seq for e in events if isinstance(e, m.Message)] == [9]


def test_empty_frames_are_ignored() -> None:
    assert FrameDecoder().feed(b"\x00\x00\x00") == []


@settings(max_examples=FUZZ, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=40))
def test_fuzz_garbage_never_raises_and_resyncs(garbage: bytes, chunk: int) -> None:
    dec = FrameDecoder()
    data = garbage + b"\x00" + encode_frame(m.STATUS, 11, STATUS)
    events = []
    for i in range(0, len(data), chunk):
        events += dec.feed(data[i : i + chunk])
    msgs = [e for e in events if isinstance(e, m.Message)]
    assert msgs and msgs[-1].seq == 11


def test_documented_example_frame() -> None:
    """The worked example in docs/mcu-protocol.md, byte for byte."""
    assert encode_frame(m.KEEPALIVE, 1, {}) == bytes.fromhex("09 83 02 01 a0 0e 80 e1 12 00")
    assert zlib.crc32(b"123456789") == 0xCBF43926


_CBOR = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats()
    | st.text(max_size=80)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=12)
    ),
    max_leaves=30,
)


@settings(max_examples=FUZZ, deadline=None)
@given(
    st.sampled_from(sorted(m.SCHEMA)),
    st.integers(-5, 70000),
    st.dictionaries(
        st.sampled_from(
            [
                "cp",
                "duty",
                "pp",
                "ct",
                "lock",
                "rcd",
                "err",
                "v",
                "f",
                "up",
                "re",
                "ok",
                "why",
                "on",
                "cmd",
                "proto",
                "ka_ms",
                "st_ms",
                "fw",
                "phases",
                "oc_a",
                "t_ms",
                "x",
            ]
        ),
        _CBOR,
        max_size=12,
    ),
)
def test_fuzz_wellframed_payloads_are_messages_or_frame_errors(
    kind: int, seq: int, body: dict[str, Any]
) -> None:
    """Any CBOR that passes the CRC either parses into a message whose fields have the
    documented types, or is a FrameError; nothing raises."""
    payload = cbor2.dumps([kind, seq, body])
    frame = cobs.encode(payload + struct.pack("<I", zlib.crc32(payload))) + b"\x00"
    (ev,) = FrameDecoder().feed(frame)
    if isinstance(ev, m.Message):
        assert ev.kind == kind and 0 <= ev.seq <= 0xFFFF
        for key, (_, required) in m.SCHEMA[kind].items():
            assert key in ev.body or not required
    else:
        assert ev.reason in ("message", "too_long")
