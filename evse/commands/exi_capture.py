"""What `evse exi decode` reads from a capture: pcap / pcapng files of a -20 session.

Pure functions, no third-party parser: the file formats are small. Packets are taken
from Ethernet (with 802.1Q tags), Linux cooked (SLL, SLL2), raw IP or BSD loopback
frames; IPv6 (the -20 link) or IPv4; TCP streams are put back in order per direction
(retransmissions dropped, segments that arrive early held until the gap closes) and cut
into V2GTP messages; UDP port 15118 datagrams are SDP. A TLS stream is recognised and
named; with a key log (`evse/iso15118/tls_keylog.py`) its records are decrypted and the
V2GTP messages inside decoded like those of a TCP stream.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

from evse.iso15118 import v2gtp
from evse.iso15118.tls_keylog import KeyLog, TlsConnection, TlsNote, TlsProblem

SDP_PORT = 15118
_PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
_PCAPNG_SHB = 0x0A0D0D0A


class CaptureError(ValueError):
    """The file is not a capture we can read (the message says why and where)."""


@dataclass(frozen=True, slots=True)
class Packet:
    time: float  # seconds since 1970
    linktype: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Found:
    """One thing found in the capture, in the order it completed."""

    time: float
    src: str  # "[addr]:port"
    dst: str
    kind: str  # "v2gtp" | "tls" | "error"
    message: v2gtp.V2gtpMessage | None = None
    note: str = ""


# --- file formats ------------------------------------------------------------------------


def read_packets(data: bytes) -> Iterator[Packet]:
    """Every packet of a pcap or pcapng file."""
    if data[:4] in _PCAP_MAGIC:
        yield from _pcap(data)
    elif len(data) >= 4 and struct.unpack("<I", data[:4])[0] == _PCAPNG_SHB:
        yield from _pcapng(data)
    else:
        raise CaptureError("not a pcap or pcapng file (unknown magic number)")


def _pcap(data: bytes) -> Iterator[Packet]:
    end, unit = _PCAP_MAGIC[data[:4]]
    if len(data) < 24:
        raise CaptureError("pcap: global header cut short")
    linktype = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    pos = 24
    while pos < len(data):
        if pos + 16 > len(data):
            raise CaptureError(f"pcap: record header cut short at byte {pos}")
        sec, frac, incl, _orig = struct.unpack(end + "IIII", data[pos:pos + 16])
        body = data[pos + 16:pos + 16 + incl]
        if len(body) < incl:
            raise CaptureError(f"pcap: packet at byte {pos} cut short")
        yield Packet(sec + frac * unit, linktype, body)
        pos += 16 + incl


def _pcapng(data: bytes) -> Iterator[Packet]:
    end = "<"
    interfaces: list[tuple[int, float]] = []  # (linktype, seconds per tick)
    pos = 0
    while pos + 12 <= len(data):
        btype = struct.unpack(end + "I", data[pos:pos + 4])[0]
        if btype == _PCAPNG_SHB:
            magic = data[pos + 8:pos + 12]
            end = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []  # a new section numbers its interfaces anew
        blen = struct.unpack(end + "I", data[pos + 4:pos + 8])[0]
        if blen < 12 or pos + blen > len(data):
            raise CaptureError(f"pcapng: block at byte {pos} has a bad length {blen}")
        body = data[pos + 8:pos + blen - 4]
        if btype == 1:  # interface description
            linktype = struct.unpack(end + "H", body[:2])[0]
            interfaces.append((linktype, _tsresol(body[8:], end)))
        elif btype == 6:  # enhanced packet
            iface, hi, lo, cap = struct.unpack(end + "IIII", body[:16])
            if iface >= len(interfaces):
                raise CaptureError(f"pcapng: packet at byte {pos} names unknown interface")
            linktype, tick = interfaces[iface]
            yield Packet(((hi << 32) | lo) * tick, linktype, body[20:20 + cap])
        pos += blen


def _tsresol(options: bytes, end: str) -> float:
    """pcapng if_tsresol (option 9): 10^-n or 2^-n seconds; microseconds by default."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack(end + "HH", options[pos:pos + 4])
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = options[pos + 4]
            return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        pos += 4 + ((length + 3) & ~3)
    return 1e-6


# --- link, network and transport layers ------------------------------------------------


def _ip_payload(pkt: Packet) -> bytes | None:
    """The IP packet inside a frame, or None when it is not IP."""
    d, lt = pkt.data, pkt.linktype
    if lt == 1:  # Ethernet
        etype, off = struct.unpack(">H", d[12:14])[0] if len(d) >= 14 else 0, 14
        while etype in (0x8100, 0x88A8) and len(d) >= off + 4:  # VLAN tags
            etype, off = struct.unpack(">H", d[off + 2:off + 4])[0], off + 4
        return d[off:] if etype in (0x0800, 0x86DD) else None
    if lt == 113:  # Linux cooked v1
        return d[16:] if len(d) >= 16 and d[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if lt == 276:  # Linux cooked v2
        return d[20:] if len(d) >= 20 and d[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if lt in (0, 108):  # BSD loopback: 4-byte address family
        return d[4:]
    if lt in (12, 101, 228, 229):  # raw IP
        return d
    return None


def _transport(ip: bytes) -> tuple[str, str, int, bytes] | None:
    """(source address, destination address, protocol, segment) of an IP packet."""
    if len(ip) >= 40 and ip[0] >> 4 == 6:
        nxt, pos = ip[6], 40
        while nxt in (0, 43, 60) and len(ip) >= pos + 8:  # hop-by-hop, routing, dest opts
            nxt, pos = ip[pos], pos + 8 + ip[pos + 1] * 8
        plen = struct.unpack(">H", ip[4:6])[0]
        return (str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40])),
                nxt, ip[pos:40 + plen])
    if len(ip) >= 20 and ip[0] >> 4 == 4:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        return src, dst, ip[9], ip[ihl:total]
    return None


def _endpoint(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


@dataclass
class _Direction:
    """One direction of a TCP connection: its next expected byte and its framer."""

    next_seq: int | None = None
    held: dict[int, bytes] = field(default_factory=dict)  # early segments by seq
    framer: v2gtp.Framer = field(default_factory=v2gtp.Framer)
    started: bool = False
    tls: TlsConnection | None = None
    done: bool = False

    def segment(self, seq: int, payload: bytes, syn: bool) -> bytes:
        """In-order bytes this segment makes available."""
        if syn:
            self.next_seq = (seq + 1) & 0xFFFFFFFF
            return b""
        if self.next_seq is None:  # capture began mid-stream: start here
            self.next_seq = seq
        if payload:
            self.held.setdefault(seq, payload)
        out = bytearray()
        while True:
            for s, chunk in list(self.held.items()):
                offset = (self.next_seq - s) & 0xFFFFFFFF
                if offset >= 0x80000000:  # still ahead of us: keep waiting
                    continue
                del self.held[s]
                if offset < len(chunk):  # new bytes (a retransmission adds none)
                    out += chunk[offset:]
                    self.next_seq = (self.next_seq + len(chunk) - offset) & 0xFFFFFFFF
                break
            else:
                return bytes(out)


def scan(packets: Iterator[Packet], key_log: KeyLog | None = None) -> Iterator[Found]:
    """V2GTP messages (TCP and SDP over UDP) of the capture, in the order they complete;
    those inside TLS too when a key log is given."""
    flows: dict[tuple[str, str], _Direction] = {}
    tls: dict[tuple[str, str], TlsConnection] = {}  # both directions share one
    for pkt in packets:
        ip = _ip_payload(pkt)
        seg = _transport(ip) if ip is not None else None
        if seg is None:
            continue
        src, dst, proto, body = seg
        if proto == 17 and len(body) >= 8:  # UDP: SDP only
            sport, dport = struct.unpack(">HH", body[:4])
            if SDP_PORT in (sport, dport):
                got = v2gtp.unpack(body[8:])
                a, b = _endpoint(src, sport), _endpoint(dst, dport)
                if isinstance(got, v2gtp.V2gtpError):
                    yield Found(pkt.time, a, b, "error", note=f"SDP: {got.detail}")
                else:
                    yield Found(pkt.time, a, b, "v2gtp", got)
            continue
        if proto != 6 or len(body) < 20:
            continue
        sport, dport, seq = struct.unpack(">HHI", body[:8])
        flags = body[13]
        payload = body[(body[12] >> 4) * 4:]
        a, b = _endpoint(src, sport), _endpoint(dst, dport)
        way = flows.setdefault((a, b), _Direction())
        data = way.segment(seq, payload, bool(flags & 0x02))
        if not data or way.done:
            continue
        if not way.started:
            way.started = True
            # A TLS record header (content type 20-23, version 3.x); V2GTP starts with 1.
            if 0x14 <= data[0] <= 0x17 and data[1:2] == b"\x03":
                if key_log is None:
                    way.done = True
                    yield Found(pkt.time, a, b, "tls", note="TLS: not decrypted")
                    continue
                way.tls = tls.setdefault((min(a, b), max(a, b)), TlsConnection(key_log))
        if way.tls is not None:
            data = yield from _decrypt(way, pkt.time, a, b, data)
        for item in way.framer.feed(data):
            if isinstance(item, v2gtp.V2gtpError):
                way.done = True
                yield Found(pkt.time, a, b, "error", note=f"V2GTP: {item.detail}")
            else:
                yield Found(pkt.time, a, b, "v2gtp", item)


def _decrypt(way: _Direction, time: float, a: str, b: str,
             data: bytes) -> Generator[Found, None, bytes]:
    """Notes and problems of the TLS layer; returns the application data."""
    assert way.tls is not None
    plain = bytearray()
    for out in way.tls.feed(a, data):
        if isinstance(out, TlsNote):
            yield Found(time, a, b, "tls", note=out.text)
        elif isinstance(out, TlsProblem):
            way.done = True
            yield Found(time, a, b, "error", note=out.text)
        else:
            plain += out
    return bytes(plain)
