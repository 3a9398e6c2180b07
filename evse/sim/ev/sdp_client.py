"""SDP, EV side (-20 / -2 clause 7.10): find the SECC on the link.

The request (V2GTP 0x9000) carries security (0x00 TLS, 0x10 none) and transport (0x00
TCP); it goes to [ff02::1]:15118 on one interface, once per 0.25 s, up to 50 times. The
answer (0x9001) names the SECC's address, port, security and transport.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from dataclasses import dataclass

from evse.iso15118 import v2gtp

SDP_PORT = 15118
SDP_GROUP = "ff02::1"
TRY_S = 0.25
SECURITY_TLS = 0x00
SECURITY_NONE = 0x10
TRANSPORT_TCP = 0x00
LOOPBACK = "lo"
LOOPBACK_ADDRESS = "::1"


@dataclass(frozen=True, slots=True)
class SdpAnswer:
    address: str  # IPv6 link-local, without scope
    port: int
    tls: bool


def request(tls: bool) -> bytes:
    return v2gtp.pack(v2gtp.SDP_REQ, bytes((SECURITY_TLS if tls else SECURITY_NONE,
                                            TRANSPORT_TCP)))


def parse_answer(datagram: bytes) -> SdpAnswer | str:
    """The SECC's answer, or why this datagram is not one."""
    msg = v2gtp.unpack(datagram)
    if isinstance(msg, v2gtp.V2gtpError):
        return f"not V2GTP: {msg.detail}"
    if msg.payload_type != v2gtp.SDP_RES or len(msg.payload) != 20:
        return f"not an SDP response (type {msg.payload_type:#06x}, {len(msg.payload)} bytes)"
    address = str(ipaddress.IPv6Address(msg.payload[:16]))
    port, security, transport = struct.unpack(">HBB", msg.payload[16:])
    if transport != TRANSPORT_TCP or security not in (SECURITY_TLS, SECURITY_NONE):
        return f"unknown security {security:#04x} / transport {transport:#04x}"
    return SdpAnswer(address, port, security == SECURITY_TLS)


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.answers.put_nowait(data)


def connect_host(answer: SdpAnswer, iface: str) -> str:
    """The host to connect to: a link-local address needs the interface as its scope."""
    if ipaddress.IPv6Address(answer.address).is_link_local:
        return f"{answer.address}%{iface}"
    return answer.address


async def discover(iface: str, tls: bool, tries: int = 50, port: int = SDP_PORT) -> SdpAnswer:
    """Ask until a SECC answers; raises TimeoutError after `tries` x 0.25 s."""
    index = socket.if_nametoindex(iface)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    if iface == LOOPBACK:
        sock.bind((LOOPBACK_ADDRESS, 0))
        dest: tuple[str, int, int, int] = (LOOPBACK_ADDRESS, port, 0, 0)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        # Our own request must not come back to a SECC on this host's other links.
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.bind(("::", 0, 0, index))
        dest = (SDP_GROUP, port, 0, index)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Receiver, sock=sock)
    try:
        for _ in range(tries):
            transport.sendto(request(tls), dest)
            deadline = loop.time() + TRY_S
            while (left := deadline - loop.time()) > 0:
                try:
                    data = await asyncio.wait_for(proto.answers.get(), left)
                except TimeoutError:
                    break
                answer = parse_answer(data)
                if isinstance(answer, SdpAnswer):
                    return answer
        raise TimeoutError(f"no SDP answer on {iface} after {tries} tries")
    finally:
        transport.close()
