"""The hal contract: every message round-trips; bad input is one ProtocolError with a code."""

from __future__ import annotations

import contextlib
import struct

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal import protocol as p

SAMPLES: list[p.Message] = [
    p.Hello(1, "evse"),
    p.KeepAlive(42),
    p.PowerRequest(1, "setpoint", -5000.0, -11000.0, 11000.0),
    p.PowerRequest(
        1,
        "setpoint",
        1000.0,
        -8000.0,
        8000.0,
        operation_mode="LocalFrequency",
        baseline_w=1000.0,
        freq_watt=[{"frequency": 49.8, "power": 4000.0}, {"frequency": 50.2, "power": -4000.0}],
    ),
    p.DerDirectives(
        [
            {
                "id": "fd1",
                "controlType": "FreqDroop",
                "isDefault": True,
                "priority": 0,
                "freqDroop": {
                    "priority": 0,
                    "overFreq": 50.2,
                    "underFreq": 49.8,
                    "overDroop": 0.05,
                    "underDroop": 0.05,
                    "responseTime": 5.0,
                },
            }
        ]
    ),
    p.PilotCommand(1, 5.0),
    p.AllowPowerOn(1, True, "authorized"),
    p.ConnectorLock(1, False),
    p.Welcome(1, [{"evse_id": 1, "kind": "dc", "max_charge_w": 11000.0}], ["fd1"]),
    p.Measurement(
        1, [230.0, 231.0, 229.5], 50.01, 7000.0, 0.0, 7000.0, 7000.0, 12.5, 0.0, "C", True
    ),
    p.Event(1, "fault", {"device": "sim-mcu-1", "reason": "timeout"}),
    p.GridConstraintReport(1, "normal", -11000.0, 11000.0, 0.0),
    p.DirectiveResult(["a"], [{"id": "b", "reason": "unsupported"}]),
    p.Error("malformed", "not CBOR", None),
    p.Ack("power_request", 1),
    p.GridMeterReport([1000.0, 1200.0, -200.0], 2000.0, 15300.5, 210.0, True, 7),  # Q09
    p.DcCommand(1, "deliver", 400.0, -20.0),  # ISO 15118-20 DC
    p.DcReport(1, "deliver", 401.0, -19.8, "valid", False),
]


def test_every_message_type_has_a_sample() -> None:
    assert {type(m) for m in SAMPLES} == set(p.MESSAGE_TYPES.values())


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: m.TYPE)
def test_round_trip(msg: p.Message) -> None:
    frame = p.encode_message(msg)
    (length,) = struct.unpack(">I", frame[:4])
    assert length == len(frame) - 4
    (payload,) = list(p.FrameDecoder().feed(frame))
    assert p.decode_message(payload) == msg


def test_frames_split_at_every_byte_and_glued() -> None:
    stream = b"".join(p.encode_message(m) for m in SAMPLES)
    dec = p.FrameDecoder()
    out = [p.decode_message(x) for i in range(len(stream)) for x in dec.feed(stream[i : i + 1])]
    assert out == SAMPLES
    assert dec.pending == 0


def _code(payload: bytes) -> str:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_message(payload)
    return info.value.code


def test_garbage_is_malformed() -> None:
    assert _code(b"\xff\x00garbage") == p.E_MALFORMED
    assert _code(cbor2.dumps([1, 2, 3])) == p.E_MALFORMED
    assert _code(cbor2.dumps({"no": "type"})) == p.E_MALFORMED


def test_unknown_type() -> None:
    assert _code(cbor2.dumps({"type": "reboot_everything"})) == p.E_UNKNOWN_TYPE


@pytest.mark.parametrize(
    "body",
    [
        {
            "type": "power_request",
            "evse_id": 1,
            "mode": "setpoint",
            "setpoint_w": 1.0,
            "min_w": 0.0,
        },  # missing max_w
        {
            "type": "power_request",
            "evse_id": "1",
            "mode": "setpoint",
            "setpoint_w": 1.0,
            "min_w": 0.0,
            "max_w": 1.0,
        },  # str for int
        {
            "type": "power_request",
            "evse_id": 1,
            "mode": "setpoint",
            "setpoint_w": float("nan"),
            "min_w": 0.0,
            "max_w": 1.0,
        },  # NaN
        {"type": "allow_power_on", "evse_id": 1, "allow": 1, "reason": ""},  # int for bool
        {"type": "keepalive", "seq": True},  # bool for int
        {"type": "keepalive", "seq": 1, "extra": 2},  # unknown field
        {"type": "der_directives", "directives": [1, 2]},  # items must be maps
        {
            "type": "power_request",
            "evse_id": 1,
            "mode": "setpoint",
            "setpoint_w": 1.0,
            "min_w": 0.0,
            "max_w": 1.0,
            "freq_watt": [50.0, 1000.0],
        },  # curve points must be maps
    ],
)
def test_invalid_fields(body: dict[str, object]) -> None:
    assert _code(cbor2.dumps(body)) == p.E_INVALID_FIELD


def test_oversized_length_prefix_breaks_the_stream() -> None:
    dec = p.FrameDecoder()
    with pytest.raises(p.ProtocolError) as info:
        list(dec.feed(struct.pack(">I", p.MAX_FRAME_BYTES + 1) + b"x"))
    assert info.value.code == p.E_FRAME_TOO_LARGE
    assert dec.broken
    assert list(dec.feed(p.encode_message(p.KeepAlive(1)))) == []


def test_power_request_without_operation_mode_keeps_todays_behaviour() -> None:
    raw = {"type": "power_request", "evse_id": 1, "mode": "limits"}
    msg = p.decode_message(cbor2.dumps({**raw, "setpoint_w": 0, "min_w": 0, "max_w": 7000}))
    assert isinstance(msg, p.PowerRequest)
    assert (msg.operation_mode, msg.baseline_w, msg.freq_watt) == ("", 0.0, [])
    assert p.PROTOCOL_VERSION == 3


def test_int_accepted_where_float_expected() -> None:
    raw = cbor2.dumps({"type": "pilot", "evse_id": 1, "duty_pct": 5})
    msg = p.decode_message(raw)
    assert isinstance(msg, p.PilotCommand) and isinstance(msg.duty_pct, float)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_protocol_error(data: bytes) -> None:
    with contextlib.suppress(p.ProtocolError):
        p.decode_message(data)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["type", "evse_id", "mode", "seq", "x"]),
        st.one_of(
            st.integers(),
            st.text(max_size=5),
            st.floats(),
            st.none(),
            st.sampled_from(list(p.MESSAGE_TYPES)),
        ),
    )
)
def test_random_maps_only_raise_protocol_error(body: dict[str, object]) -> None:
    with contextlib.suppress(p.ProtocolError):
        p.decode_message(cbor2.dumps(body))


def test_raw_frames_match_the_encoder_byte_for_byte() -> None:
    """Tests speak the wire through encode_raw: it must frame exactly as the encoder does."""
    assert p.encode_raw({"seq": 3, "type": "keepalive"}) == p.encode_message(p.KeepAlive(3))
