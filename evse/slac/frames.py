"""Ethernet + HomePlug management-message framing for SLAC (ISO 15118-3, HomePlug GP).

A frame is: destination MAC (6), source MAC (6), ethertype 0x88E1 (big-endian), then the
MME header. HomePlug AV 1.1 / Green PHY messages (MMV 1) carry MMV, MMTYPE
(little-endian) and two fragmentation octets (FMI nibbles, FMSN); Qualcomm vendor
messages (MMV 0) carry MMV, MMTYPE and the OUI 00:B0:52 instead. Every SLAC message fits
in one frame, so a fragmented one is refused rather than reassembled.

`decode_frame` returns None for frames that are not ours (another ethertype, or a
management message type we do not speak) and raises `FrameError` for frames that claim
to be ours but are malformed or truncated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ETH_P_HOMEPLUG = 0x88E1
MAC_LEN = 6
ETH_HEADER_LEN = 14
MIN_FRAME_LEN = 60  # Ethernet minimum without FCS: shorter frames are zero-padded
BROADCAST = b"\xff" * MAC_LEN
# A Qualcomm modem answers its host's management messages from this "local" address.
QCA_LOCAL_MAC = bytes.fromhex("00b052000001")
QCA_OUI = bytes.fromhex("00b052")

MMV_HOMEPLUG_AV_1_0 = 0  # Qualcomm vendor messages
MMV_HOMEPLUG_AV_1_1 = 1  # ISO 15118-3 SLAC messages: MMV 1

# MMTYPE base values; the low two bits say REQ (0), CNF (1), IND (2), RSP (3).
CM_SET_KEY = 0x6008
CM_SLAC_PARM = 0x6064
CM_START_ATTEN_CHAR = 0x6068
CM_ATTEN_CHAR = 0x606C
CM_MNBC_SOUND = 0x6074
CM_VALIDATE = 0x6078
CM_SLAC_MATCH = 0x607C
CM_ATTEN_PROFILE = 0x6084
VS_PL_LNK_STATUS = 0xA0B8  # Qualcomm vendor: powerline link status
REQ, CNF, IND, RSP = 0, 1, 2, 3


class FrameError(ValueError):
    """A HomePlug frame of ours that is malformed, truncated or unsupported."""


@dataclass(frozen=True)
class Header:
    dst: bytes
    src: bytes
    mmv: int
    mmtype: int
    fmi: int = 0  # NF_MI (low nibble) and FN_MI (high nibble); 0 = not fragmented
    fmsn: int = 0


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != MAC_LEN or not all(len(p) == 2 for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def is_vendor(mmtype: int) -> bool:
    # Vendor-specific MMTYPEs are 0xA000-0xBFFF (HomePlug AV 1.1, 11.1.4).
    return 0xA000 <= mmtype <= 0xBFFF


def pack_header(dst: bytes, src: bytes, mmtype: int, fmsn: int = 0) -> bytes:
    """Ethernet header + MME header for `mmtype` (vendor messages get MMV 0 and the OUI)."""
    if len(dst) != MAC_LEN or len(src) != MAC_LEN:
        raise ValueError("MAC addresses are 6 bytes")
    eth = dst + src + struct.pack(">H", ETH_P_HOMEPLUG)
    if is_vendor(mmtype):
        return eth + struct.pack("<BH", MMV_HOMEPLUG_AV_1_0, mmtype) + QCA_OUI
    return eth + struct.pack("<BHBB", MMV_HOMEPLUG_AV_1_1, mmtype, 0, fmsn)


def pad(frame: bytes) -> bytes:
    return frame + bytes(max(0, MIN_FRAME_LEN - len(frame)))


def split_header(frame: bytes) -> tuple[Header, bytes] | None:
    """The header and payload (padding included); None when the ethertype is not 0x88E1."""
    if len(frame) < ETH_HEADER_LEN:
        raise FrameError(f"frame of {len(frame)} bytes is shorter than an Ethernet header")
    (ethertype,) = struct.unpack_from(">H", frame, 12)
    if ethertype != ETH_P_HOMEPLUG:
        return None
    dst, src = frame[0:6], frame[6:12]
    if len(frame) < ETH_HEADER_LEN + 3:
        raise FrameError("truncated management message header")
    mmv, mmtype = struct.unpack_from("<BH", frame, ETH_HEADER_LEN)
    if is_vendor(mmtype):
        end = ETH_HEADER_LEN + 3 + len(QCA_OUI)
        if len(frame) < end:
            raise FrameError("truncated vendor message header")
        if frame[ETH_HEADER_LEN + 3 : end] != QCA_OUI:
            return Header(dst, src, mmv, mmtype), b""  # another vendor's: not ours
        return Header(dst, src, mmv, mmtype), frame[end:]
    if mmv != MMV_HOMEPLUG_AV_1_1:
        raise FrameError(f"MMTYPE {mmtype:#06x} with MMV {mmv}, ISO 15118-3 requires MMV 1")
    if len(frame) < ETH_HEADER_LEN + 5:
        raise FrameError("truncated fragmentation fields")
    fmi, fmsn = frame[ETH_HEADER_LEN + 3], frame[ETH_HEADER_LEN + 4]
    if fmi != 0:
        raise FrameError(f"fragmented management message (FMI {fmi:#04x}) is not supported")
    return Header(dst, src, mmv, mmtype, fmi, fmsn), frame[ETH_HEADER_LEN + 5 :]


class Reader:
    """Reads fixed-size fields from a payload; running short is a FrameError."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise FrameError(f"{self._what}: truncated at byte {self._pos} (needs {n} more)")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def remaining(self) -> int:
        return len(self._data) - self._pos

    def u8(self) -> int:
        return self.take(1)[0]

    def u16le(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def u32le(self) -> int:
        return int.from_bytes(self.take(4), "little")
