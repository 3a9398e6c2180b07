"""Link adapters: how SLAC frames reach the wire.

- `RawSocketLink`: an AF_PACKET raw socket on an interface, ethertype 0x88E1 only
  (needs CAP_NET_RAW; the evse systemd unit grants it).
- `MemoryPowerline` / `MemoryLink`: hosts and simulated modems in one process, so the
  simulation runs unprivileged.

A link hands received frames to one `deliver` callback from the event loop; `send`
never blocks (a frame the kernel cannot take now is dropped: SLAC retries).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Protocol

from evse.slac.frames import ETH_P_HOMEPLUG
from evse.slac.modem_sim import PlcSegment, SimModem

Deliver = Callable[[bytes], None]

PACKET_OUTGOING = 4  # sll_pkttype of frames this host sent (other sockets' echoes)
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1


class Link(Protocol):
    mac: bytes

    def open(self, deliver: Deliver) -> None: ...
    def send(self, frame: bytes) -> None: ...
    def close(self) -> None: ...


class RawSocketLink:
    def __init__(self, ifname: str, promiscuous: bool = False) -> None:
        self.ifname = ifname
        self.dropped = 0
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                   socket.htons(ETH_P_HOMEPLUG))
        try:
            self._sock.bind((ifname, ETH_P_HOMEPLUG))
            self._sock.setblocking(False)
            if promiscuous:  # a simulated modem must see frames for its own address too
                ifindex = socket.if_nametoindex(ifname)
                mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
                self._sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        except OSError:
            self._sock.close()
            raise
        self.mac: bytes = self._sock.getsockname()[4][:6]
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self, deliver: Deliver) -> None:
        self._loop = asyncio.get_running_loop()
        self._deliver = deliver
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        while True:
            try:
                data, addr = self._sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            if addr[2] == PACKET_OUTGOING:
                continue  # another socket on this host sent it
            self._deliver(data)

    def send(self, frame: bytes) -> None:
        try:
            self._sock.send(frame)
        except (BlockingIOError, InterruptedError):
            self.dropped += 1

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._loop = None
        self._sock.close()


class MemoryPowerline:
    """A simulated powerline segment with a modem per host, all in this process."""

    def __init__(self, default_attenuation: int = 20) -> None:
        self.segment = PlcSegment(default_attenuation)
        self._links: dict[int, MemoryLink] = {}

    def link(self, host_mac: bytes, modem_mac: bytes) -> MemoryLink:
        modem = self.segment.attach(SimModem(modem_mac))
        link = MemoryLink(host_mac, modem, self)
        self._links[id(modem)] = link
        return link

    def carry(self, modem: SimModem, frame: bytes) -> None:
        for dst_modem, out in modem.from_host(frame):
            self._links[id(dst_modem)].arrive(out)


class MemoryLink:
    def __init__(self, mac: bytes, modem: SimModem, line: MemoryPowerline) -> None:
        self.mac = mac
        self.modem = modem
        self._line = line
        self._deliver: Deliver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self, deliver: Deliver) -> None:
        self._loop = asyncio.get_running_loop()
        self._deliver = deliver

    def send(self, frame: bytes) -> None:
        self._line.carry(self.modem, frame)

    def arrive(self, frame: bytes) -> None:
        if self._deliver is not None and self._loop is not None:
            # Delivered on the next loop turn, as from a socket (no re-entry into a machine).
            self._loop.call_soon(self._deliver, frame)

    def close(self) -> None:
        self._deliver = None
        self._loop = None
