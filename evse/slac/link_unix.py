"""A simulated powerline across processes, unprivileged: a directory of Unix datagram
sockets is one segment (one charging cable); each host (an EVSE's controller, a car) has
its own simulated modem (evse/slac/modem_sim.py) and one socket in the directory.

    [slac]
    interface = "unix:../var/sim/plc-1"    # relative to the config file's folder

What a host sends goes to its own modem first: CM_SET_KEY and link-status requests are
answered there, as a Qualcomm modem does; everything else goes onto the segment and
reaches every other host's modem, which passes it up (adding CM_ATTEN_PROFILE.IND for
each CM_MNBC_SOUND.IND it hears), like a veth pair with `python -m evse.slac.plc_sim`.

Every datagram carries the sender modem's network key (NID, NMK), and each modem beacons
it every `BEACON_S`, so a modem knows its peers: its link is up while a peer with the
same key was heard within `PEER_TTL_S` (a killed process drops the link, as a real
modem's does when the other side loses power). A socket file nobody listens on (its
process was killed) is removed by the next sender.

Datagram: b"PLC1", sender modem MAC (6), attenuation dB (1), key flag (1), NID (7),
NMK (16), then the Ethernet frame (empty for a beacon).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evse.slac.link import Deliver
from evse.slac.modem_sim import PlcSegment, SimModem

MAGIC = b"PLC1"
_HEADER = struct.Struct("!4s6sBB7s16s")
BEACON_S = 0.5
PEER_TTL_S = 2.0
_SUFFIX = ".plc"


def parse_interface(value: str) -> str | None:
    """The directory of `unix:PATH`, or None for a network interface name."""
    return value[5:] if value.startswith("unix:") else None


@dataclass
class _Peer:
    modem: SimModem  # a stand-in: its MAC and key, as last heard
    attenuation: int
    seen: float


@dataclass
class _RemoteSegment(PlcSegment):
    """Our modem's view of the segment: the other modems are in other processes."""

    link: UnixPowerlineLink | None = None
    peers: dict[bytes, _Peer] = field(default_factory=dict)

    def transmit(self, sender: SimModem, frame: bytes) -> list[tuple[SimModem, bytes]]:
        assert self.link is not None
        self.link.broadcast(frame)
        return []  # delivered by the other processes' modems

    def attenuation(self, a: SimModem, b: SimModem) -> int:
        peer = self.peers.get(a.mac) or self.peers.get(b.mac)
        own = self.default_attenuation
        return own if peer is None else max(own, peer.attenuation)

    def has_peer(self, modem: SimModem) -> bool:
        assert self.link is not None
        now = self.link.clock()
        return modem.nid is not None and any(
            p.modem.nid == modem.nid and p.modem.nmk == modem.nmk
            and now - p.seen <= PEER_TTL_S for p in self.peers.values()
        )


class UnixPowerlineLink:
    """One host and its simulated modem on the segment in `directory` (a `Link`)."""

    def __init__(self, directory: str | Path, host_mac: bytes, modem_mac: bytes,
                 attenuation_db: int = 20, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = Path(directory)
        self.mac = host_mac
        self.clock = clock
        self.dropped = 0
        self._segment = _RemoteSegment(attenuation_db, link=self)
        self.modem = SimModem(modem_mac)
        self.modem.segment = self._segment
        self._path = self.directory / (modem_mac.hex() + _SUFFIX)
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deliver: Deliver | None = None
        self._beacon: asyncio.TimerHandle | None = None

    def open(self, deliver: Deliver) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()  # ours from a process that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(self._path))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        self._send_beacon()

    def close(self) -> None:
        if self._beacon is not None:
            self._beacon.cancel()
            self._beacon = None
        if self._sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
        self._loop = None
        self._deliver = None

    # ---- host -> modem -> segment ----------------------------------------------------

    def send(self, frame: bytes) -> None:
        for _modem, out in self.modem.from_host(frame):  # local answers (CM_SET_KEY ...)
            self._up(out)

    def _up(self, frame: bytes) -> None:
        if self._deliver is not None and self._loop is not None:
            # The next loop turn, as from a socket: no re-entry into the caller's machine.
            self._loop.call_soon(self._deliver, frame)

    def _packet(self, frame: bytes) -> bytes:
        m = self.modem
        keyed = m.nid is not None and m.nmk is not None
        nid = (m.nid or b"").ljust(7, b"\0")[:7]
        nmk = (m.nmk or b"").ljust(16, b"\0")[:16]
        head = _HEADER.pack(MAGIC, m.mac, self._segment.default_attenuation, int(keyed),
                            nid, nmk)
        return head + frame

    def broadcast(self, frame: bytes) -> None:
        if self._sock is None:
            return
        packet = self._packet(frame)
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if not name.endswith(_SUFFIX) or name == self._path.name:
                continue
            path = str(self.directory / name)
            try:
                inode = os.stat(path).st_ino
                self._sock.sendto(packet, path)
            except ConnectionRefusedError:
                with contextlib.suppress(OSError):
                    if os.stat(path).st_ino == inode:  # not a host that just came back
                        os.unlink(path)  # nobody listens: its process is gone
            except (BlockingIOError, FileNotFoundError, OSError):
                self.dropped += 1  # a full queue or a host just leaving: SLAC retries

    def _send_beacon(self) -> None:
        self.broadcast(b"")
        if self._loop is not None:
            self._beacon = self._loop.call_later(BEACON_S, self._send_beacon)

    # ---- segment -> modem -> host ----------------------------------------------------

    def _readable(self) -> None:
        while self._sock is not None:
            try:
                packet = self._sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            self._receive(packet)

    def _receive(self, packet: bytes) -> None:
        if len(packet) < _HEADER.size:
            return
        magic, mac, db, keyed, nid, nmk = _HEADER.unpack_from(packet)
        if magic != MAGIC or mac == self.modem.mac:
            return
        peer = self._segment.peers.get(mac)
        if peer is None:
            peer = self._segment.peers[mac] = _Peer(SimModem(mac), db, 0.0)
        peer.modem.nid, peer.modem.nmk = (nid, nmk) if keyed else (None, None)
        peer.attenuation, peer.seen = db, self.clock()
        frame = packet[_HEADER.size:]
        if frame:
            for out in self.modem.from_plc(peer.modem, frame):
                self._up(out)
