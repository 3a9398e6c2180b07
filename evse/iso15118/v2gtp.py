"""V2GTP (ISO 15118-2 clause 7.8, reused by -20): the 8-byte header and a sans-IO framer.

Header: protocol version 0x01, its inverse 0xFE, payload type (u16 big-endian), payload
length (u32 big-endian). The framer takes bytes as they arrive from TCP/TLS and returns
whole (payload type, payload) messages; it never raises into the caller's loop: a bad
header is reported once as a `V2gtpError` result and the framer stays closed, because the
standard's answer to a broken header is to end that connection ([V2G20-...] / -2
[V2G2-063..-067]: wrong version -> negative ack, wrong type or length -> close).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

VERSION: Final = 0x01
INVERSE_VERSION: Final = 0xFE
HEADER_LEN: Final = 8

# Payload types (ISO 15118-20 Table 16; -2 Table 10 for 0x8001 and SDP)
SAP: Final = 0x8001
COMMON: Final = 0x8002
AC: Final = 0x8003
DC: Final = 0x8004
ACDP: Final = 0x8005
WPT: Final = 0x8006
SCHEDULE_RENEGOTIATION: Final = 0x8101
METERING_CONFIRMATION: Final = 0x8102
ACDP_SYSTEM_STATUS: Final = 0x8103
PARKING_STATUS: Final = 0x8104
SDP_REQ: Final = 0x9000
SDP_RES: Final = 0x9001
SDP_WIRELESS_REQ: Final = 0x9002
SDP_WIRELESS_RES: Final = 0x9003

KNOWN_TYPES: Final = frozenset(
    {
        SAP,
        COMMON,
        AC,
        DC,
        ACDP,
        WPT,
        SCHEDULE_RENEGOTIATION,
        METERING_CONFIRMATION,
        ACDP_SYSTEM_STATUS,
        PARKING_STATUS,
        SDP_REQ,
        SDP_RES,
        SDP_WIRELESS_REQ,
        SDP_WIRELESS_RES,
    }
)

# The largest -20 message we expect is a PnC AuthorizationReq or a CertificateInstallation
# with chains: a few kB. 64 kB leaves room and bounds what a hostile peer can make us hold.
DEFAULT_MAX_PAYLOAD: Final = 65536

_HEADER = struct.Struct(">BBHI")


@dataclass(frozen=True, slots=True)
class V2gtpMessage:
    payload_type: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class V2gtpError:
    """Why the stream cannot go on. `code` names the rule broken."""

    code: str  # "version" | "payload_type" | "length"
    detail: str


def pack(payload_type: int, payload: bytes) -> bytes:
    """One V2GTP message: header + payload."""
    if not 0 <= payload_type <= 0xFFFF:
        raise ValueError(f"payload type {payload_type:#x} does not fit 16 bits")
    return _HEADER.pack(VERSION, INVERSE_VERSION, payload_type, len(payload)) + payload


def parse_header(
    header: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD
) -> tuple[int, int] | V2gtpError:
    """(payload type, payload length) of an 8-byte header, or why it is not acceptable."""
    if len(header) != HEADER_LEN:
        return V2gtpError("length", f"header of {len(header)} bytes, need {HEADER_LEN}")
    version, inverse, ptype, length = _HEADER.unpack(header)
    if version != VERSION or inverse != INVERSE_VERSION:
        return V2gtpError("version", f"version {version:#04x}/{inverse:#04x}, need 0x01/0xfe")
    if ptype not in KNOWN_TYPES:
        return V2gtpError("payload_type", f"unknown payload type {ptype:#06x}")
    if length > max_payload:
        return V2gtpError("length", f"payload of {length} bytes above the cap of {max_payload}")
    return ptype, length


def unpack(datagram: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> V2gtpMessage | V2gtpError:
    """One whole message in one buffer (a UDP datagram: SDP)."""
    head = parse_header(datagram[:HEADER_LEN], max_payload)
    if isinstance(head, V2gtpError):
        return head
    ptype, length = head
    if len(datagram) != HEADER_LEN + length:
        return V2gtpError(
            "length", f"datagram of {len(datagram)} bytes, header says {HEADER_LEN + length}"
        )
    return V2gtpMessage(ptype, datagram[HEADER_LEN:])


class Framer:
    """Bytes from a stream in, whole messages out. After an error it returns nothing more."""

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._max = max_payload
        self._buf = bytearray()
        self._need: tuple[int, int] | None = None  # (type, length) once a header is read
        self.error: V2gtpError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[V2gtpMessage | V2gtpError]:
        """Messages completed by `data`; a `V2gtpError` is always the last item."""
        if self.error is not None:
            return []
        self._buf += data
        out: list[V2gtpMessage | V2gtpError] = []
        while True:
            if self._need is None:
                if len(self._buf) < HEADER_LEN:
                    return out
                head = parse_header(bytes(self._buf[:HEADER_LEN]), self._max)
                if isinstance(head, V2gtpError):
                    self.error = head
                    self._buf.clear()
                    out.append(head)
                    return out
                self._need = head
                del self._buf[:HEADER_LEN]
            ptype, length = self._need
            if len(self._buf) < length:
                return out
            out.append(V2gtpMessage(ptype, bytes(self._buf[:length])))
            del self._buf[:length]
            self._need = None
