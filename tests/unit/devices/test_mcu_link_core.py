"""Keep-alive schedule and link supervision of the MCU link core, on a fake clock."""

from __future__ import annotations

from hal.devices.mcu_link import messages as m
from hal.devices.mcu_link.frame import FrameDecoder, encode_frame
from hal.devices.mcu_link.link import McuLinkCore

STATUS = {
    "cp": "A",
    "duty": 10000,
    "pp": None,
    "ct": False,
    "lock": False,
    "rcd": False,
    "err": [],
    "v": [23000],
    "f": 50000,
    "up": 1,
}


def test_keepalive_due_once_per_interval() -> None:
    core = McuLinkCore(0.1, 0.5, now=0.0)
    first = core.keepalive(0.0)
    assert first is not None
    (msg,) = FrameDecoder().feed(first)
    assert isinstance(msg, m.Message) and msg.kind == m.KEEPALIVE
    assert core.keepalive(0.05) is None
    assert core.keepalive(0.1) is not None


def test_any_command_counts_as_keepalive() -> None:
    core = McuLinkCore(0.1, 0.5, now=0.0)
    core.command(m.SET_PWM, {"duty": 5000}, 0.0)
    assert core.keepalive(0.05) is None


def test_sequence_numbers_increase_and_wrap() -> None:
    core = McuLinkCore(0.1, 0.5, now=0.0)
    seqs = [core.command(m.GET_STATUS, {}, 0.0)[0] for _ in range(3)]
    assert seqs == [1, 2, 3]
    core._seq = 0xFFFF
    assert core.command(m.GET_STATUS, {}, 0.0)[0] == 0


def test_link_up_only_while_valid_frames_arrive() -> None:
    core = McuLinkCore(0.1, 0.5, now=0.0)
    assert not core.link_up(0.0)
    core.receive(encode_frame(m.STATUS, 1, STATUS), 1.0)
    assert core.link_up(1.4)
    assert not core.link_up(1.6)


def test_down_reason_names_silence_and_line_errors() -> None:
    core = McuLinkCore(0.1, 0.5, now=0.0)
    frame = bytearray(encode_frame(m.STATUS, 1, STATUS))
    frame[3] ^= 0x01  # corrupt a payload byte: CRC mismatch
    events = core.receive(bytes(frame), 0.5)
    assert not core.link_up(0.5)
    assert core.errors and events
    reason = core.down_reason(2.0)
    assert "no valid frame for 2.00 s" in reason
    assert core.last_error is not None and core.last_error.reason in reason
