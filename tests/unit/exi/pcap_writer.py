"""Write pcap / pcapng files from packets built here (Ethernet / IPv6 / TCP or UDP), for
the tests of `evse exi decode --pcap`. Checksums are left zero: the reader ignores them,
as capture tools on the sending host show them (offloaded)."""

from __future__ import annotations

import ipaddress
import struct

EV = "fe80::1"
SECC = "fe80::2"


def ipv6_tcp(src: str, dst: str, sport: int, dport: int, seq: int, payload: bytes,
             flags: int = 0x18) -> bytes:
    """An Ethernet frame: IPv6 + TCP (flags default PSH|ACK; SYN 0x02)."""
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
    return _eth_ipv6(src, dst, 6, tcp)


def ipv6_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    return _eth_ipv6(src, dst, 17, udp)


def _eth_ipv6(src: str, dst: str, proto: int, body: bytes) -> bytes:
    ip = struct.pack(">IHBB", 6 << 28, len(body), proto, 64)
    ip += ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
    return b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip + body


def pcap(packets: list[tuple[float, bytes]], linktype: int = 1) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for t, frame in packets:
        sec = int(t)
        out += struct.pack("<IIII", sec, round((t - sec) * 1e6), len(frame), len(frame)) + frame
    return out


def _block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def pcapng(packets: list[tuple[float, bytes]], linktype: int = 1) -> bytes:
    """pcapng with nanosecond timestamps (if_tsresol 9), as tshark writes by default."""
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
    idb = _block(1, struct.pack("<HHI", linktype, 0, 65535) + opts)
    out = shb + idb
    for t, frame in packets:
        ticks = round(t * 1e9)
        out += _block(6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame),
                                     len(frame)) + frame)
    return out
