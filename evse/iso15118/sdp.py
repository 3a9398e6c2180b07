"""SECC Discovery Protocol (ISO 15118-2 SDP, used by -20): the car multicasts
a request to [ff02::1]:15118, the SECC answers where its TCP / TLS server listens.

Request: V2GTP 0x9000, 2 bytes: security (0x00 TLS, 0x10 no TLS), transport (0x00 TCP,
0x10 UDP). Response: V2GTP 0x9001, 20 bytes: the SECC's IPv6 address (16), port (u16),
security, transport. Which security we answer follows `tls`:
- "none": always TCP without TLS; "required": always TLS;
- "optional": what the car asked for.
Only TCP is offered. A datagram that is not a valid request gets no answer (the car
retries every 250 ms, up to 50 times).

`SdpResponder` is the sans-IO core (datagram in, datagram out); `serve_sdp` binds it to
one interface with asyncio.

Loopback (`interface = "lo"`, simulation without privileges or a veth pair): the server
listens on [::1]:`sdp_port` (several stations on one host use different ports), the
SECC on ::1, and the car asks [::1]:port by unicast (evse/sim/ev/sdp_client.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, cast

from evse.iso15118 import v2gtp

log = logging.getLogger(__name__)

SDP_PORT: Final = 15118
ALL_NODES: Final = "ff02::1"
SECURITY_TLS: Final = 0x00
SECURITY_NONE: Final = 0x10
TRANSPORT_TCP: Final = 0x00
TRANSPORT_UDP: Final = 0x10

TlsPolicy = Literal["none", "optional", "required"]
_IFA_F_TENTATIVE: Final = 0x40  # DAD not finished: the address cannot be used yet
_SCOPE_LINK: Final = 0x20
LOOPBACK: Final = "lo"
LOOPBACK_ADDRESS: Final = "::1"


@dataclass(frozen=True, slots=True)
class SdpOffer:
    """Where this SECC listens: its address and the port for each security it serves."""

    address: str  # IPv6 link-local address (no scope)
    tcp_port: int | None  # None: no plain TCP server
    tls_port: int | None  # None: no TLS server
    policy: TlsPolicy


class SdpResponder:
    """Sans-IO: an SDP request datagram in, the response datagram (or None) out."""

    def __init__(self, offer: SdpOffer) -> None:
        self.offer = offer
        self._addr = ipaddress.IPv6Address(offer.address).packed

    def answer(self, datagram: bytes) -> bytes | None:
        msg = v2gtp.unpack(datagram, max_payload=64)
        if isinstance(msg, v2gtp.V2gtpError) or msg.payload_type != v2gtp.SDP_REQ:
            return None
        if len(msg.payload) != 2:
            return None
        security, transport = msg.payload
        if security not in (SECURITY_TLS, SECURITY_NONE) or transport not in (
            TRANSPORT_TCP,
            TRANSPORT_UDP,
        ):
            return None
        chosen = self._security(security)
        if chosen is None:
            return None
        port = self.offer.tls_port if chosen == SECURITY_TLS else self.offer.tcp_port
        assert port is not None  # _security only picks a security that has a port
        body = self._addr + struct.pack(">HBB", port, chosen, TRANSPORT_TCP)
        return v2gtp.pack(v2gtp.SDP_RES, body)

    def _security(self, asked: int) -> int | None:
        policy = self.offer.policy
        if policy == "none" or (policy == "optional" and asked == SECURITY_NONE):
            return SECURITY_NONE if self.offer.tcp_port is not None else None
        return SECURITY_TLS if self.offer.tls_port is not None else None


def segment_sdp_port(segment: str) -> int:
    """Loopback SDP port for a simulated powerline segment (`sdp_port = 0` on "lo"): on a
    real link SDP reaches only the stations on that link; on loopback every station of
    the host would hear it, so each segment (its directory) gets its own port, one that
    station and car both derive (49152-65535)."""
    return 49152 + zlib.crc32(segment.encode()) % 16384


def link_local_address(interface: str, proc: Path = Path("/proc/net/if_inet6")) -> str | None:
    """The interface's usable IPv6 link-local address (DAD finished), or None."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) != 6 or fields[5] != interface:
            continue
        scope, flags = int(fields[3], 16), int(fields[4], 16)
        if scope == _SCOPE_LINK and not flags & _IFA_F_TENTATIVE:
            return str(ipaddress.IPv6Address(bytes.fromhex(fields[0])))
    return None


class _SdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, responder: SdpResponder) -> None:
        self._responder = responder
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        response = self._responder.answer(data)
        if response is not None and self._transport is not None:
            self._transport.sendto(response, addr)
        elif response is None:
            log.debug("SDP: ignored %d bytes from %s", len(data), addr[0])

    def error_received(self, exc: Exception) -> None:
        log.warning("SDP socket error: %s", exc)


def _sdp_socket(interface: str, port: int = SDP_PORT) -> socket.socket:
    ifindex = socket.if_nametoindex(interface)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if interface == LOOPBACK:  # unicast from the car on this host: no group to join
            # SO_REUSEADDR stays (set above): without it this socket would keep a station
            # on a real interface of this host from binding SDP's wildcard [::]:15118.
            # Stations on loopback keep apart by their ports (sdp_port = 0: per segment).
            sock.bind((LOOPBACK_ADDRESS, port))
            sock.setblocking(False)
            return sock
        # One SDP server per interface, several EVSEs on one board: each socket hears
        # only its own interface.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        # Bound to the wildcard, not to the link-local address: a socket bound to a
        # unicast address does not receive the car's datagrams to ff02::1.
        sock.bind(("::", port, 0, ifindex))
        mreq = ipaddress.IPv6Address(ALL_NODES).packed + struct.pack("@I", ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve_sdp(
    interface: str, responder: SdpResponder, port: int = SDP_PORT
) -> asyncio.DatagramTransport:
    """Answer SDP on `interface` until the returned transport is closed."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _SdpProtocol(responder), sock=_sdp_socket(interface, port)
    )
    return transport
