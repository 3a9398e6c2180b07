"""Sans-IO framing of the MCU link: bytes in, messages out (docs/mcu-protocol.md).

Wire frame: COBS(CBOR(message) || CRC32(CBOR) little-endian) 0x00. The decoder keeps no
state but its receive buffer, survives garbage, CRC errors and frames split across reads,
and resynchronises on the next 0x00. Errors come out as `FrameError` events, never as
exceptions, because a noisy line is normal operation, not a bug.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import cbor2

from hal.devices.mcu_link import cobs
from hal.devices.mcu_link.messages import Message, MessageError, parse_message

MAX_FRAME = 512  # encoded bytes between delimiters; longer is garbage


@dataclass(frozen=True, slots=True)
class FrameError:
    reason: str  # "crc", "cobs", "cbor", "message", "too_long", "too_short"
    detail: str


Event = Message | FrameError


def encode_frame(kind: int, seq: int, body: dict[str, Any]) -> bytes:
    payload = cbor2.dumps([kind, seq, body])
    crc = struct.pack("<I", zlib.crc32(payload))
    return cobs.encode(payload + crc) + b"\x00"


class FrameDecoder:
    """Feed it whatever the serial port returned; it returns complete events."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._discarding = False  # inside an over-long frame: drop until the next 0x00

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                self._append(data[start:], events)
                return events
            self._append(data[start:end], events)
            if self._discarding:
                self._discarding = False
            elif self._buf:
                events.append(_decode(bytes(self._buf)))
            self._buf.clear()
            start = end + 1

    def _append(self, chunk: bytes, events: list[Event]) -> None:
        if self._discarding or not chunk:
            return
        if len(self._buf) + len(chunk) > MAX_FRAME:
            events.append(FrameError("too_long", f"no delimiter within {MAX_FRAME} bytes"))
            self._buf.clear()
            self._discarding = True
            return
        self._buf += chunk


def _decode(frame: bytes) -> Event:
    try:
        raw = cobs.decode(frame)
    except cobs.CobsError as exc:
        return FrameError("cobs", str(exc))
    if len(raw) < 5:
        return FrameError("too_short", f"{len(raw)} bytes")
    payload, crc = raw[:-4], struct.unpack("<I", raw[-4:])[0]
    if zlib.crc32(payload) != crc:
        return FrameError("crc", f"crc {crc:#010x} != {zlib.crc32(payload):#010x}")
    try:
        obj = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        return FrameError("cbor", str(exc))
    try:
        return parse_message(obj)
    except MessageError as exc:
        return FrameError("message", str(exc))
