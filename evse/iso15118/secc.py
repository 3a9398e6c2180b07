"""The SECC's transport: TCP and TLS 1.3 servers on the EVSE interface's IPv6 link-local
address, SDP beside them, one -20 session (`d20/session.py`) per connection.

- One session per EVSE: a second connection while one is active is closed at once.
- A V2GTP error, undecodable EXI, a FAILED response or the sequence timeout ends that
  connection; the servers keep serving the next one.
- Each request is answered from a `StationView` taken when it arrived, and the actions
  go to the station without waiting (`StationPort.act` only hands them over): the
  transport never waits on hardware.
- TLS 1.3 only. -20 names TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256; the
  ssl module cannot narrow TLS 1.3 suites, so the server prefers its own order (those two
  come first in OpenSSL's) and closes a connection that negotiated any other. With
  `oem_roots` set, the car must present a chain that verifies against those roots
  (mutual authentication). `key_log` writes the session keys (NSS key log format) for
  `evse exi decode` of a capture: for debugging only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from evse.iso15118 import v2gtp
from evse.iso15118.d20.service_params import energy_namespace
from evse.iso15118.d20.session import Codecs, PausedSessions, Reply, Session
from evse.iso15118.d20.types import Action, SeccConfig, StationView
from evse.iso15118.sdp import (
    LOOPBACK,
    LOOPBACK_ADDRESS,
    SDP_PORT,
    SdpOffer,
    SdpResponder,
    TlsPolicy,
    link_local_address,
    serve_sdp,
)

log = logging.getLogger(__name__)

TLS_SUITES_20: Final = frozenset({"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"})
_READ_CHUNK: Final = 65536


class StationPort(Protocol):
    """What the SECC needs from the station: a snapshot, and somewhere to put actions."""

    def view(self) -> StationView: ...

    def act(self, actions: tuple[Action, ...]) -> None: ...


@dataclass(frozen=True, slots=True)
class SeccTransportConfig:
    interface: str
    tls: TlsPolicy = "none"
    tcp_port: int = 0  # 0: any free port in 49152-65535 (SDP tells the car)
    tls_port: int = 0
    cert_file: Path | None = None  # the SECC certificate chain (PEM), needed for TLS
    key_file: Path | None = None
    oem_roots: Path | None = None  # PEM roots for the car's chain: mutual authentication
    key_log: Path | None = None  # debugging: TLS key log file
    max_payload: int = v2gtp.DEFAULT_MAX_PAYLOAD
    handshake_timeout_s: float = 20.0
    sdp_port: int = SDP_PORT  # another port only on "lo" (several stations, one host)


class SeccError(RuntimeError):
    pass


def tls_context(cfg: SeccTransportConfig) -> ssl.SSLContext:
    if cfg.cert_file is None or cfg.key_file is None:
        raise SeccError("TLS needs cert_file and key_file")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    if cfg.oem_roots is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=cfg.oem_roots)
    if cfg.key_log is not None:
        ctx.keylog_filename = str(cfg.key_log)
    return ctx


class Secc:
    """SDP + TCP/TLS servers + sessions for one EVSE."""

    def __init__(
        self,
        config: SeccConfig,
        transport: SeccTransportConfig,
        station: StationPort,
        *,
        codecs: Codecs | None = None,
        clock: Callable[[], float] = time.monotonic,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        on_response: Callable[[str, float], None] | None = None,
    ) -> None:
        self.config = config
        # (request name, seconds from its last byte framed to its response written): for
        # the benchmark; called on the event loop, so it must not block.
        self._on_response = on_response
        self.transport = transport
        self._station = station
        self._codecs = codecs or Codecs()
        self._clock = clock
        self._random_bytes = random_bytes
        self._paused = PausedSessions()
        self._servers: list[asyncio.Server] = []
        self._sdp: asyncio.DatagramTransport | None = None
        self._active: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # connection handlers, awaited at stop
        self.offer: SdpOffer | None = None
        self.sessions = 0  # connections served (for status and tests)
        self.refused = 0

    @property
    def active(self) -> bool:
        return self._active is not None

    async def start(self) -> SdpOffer:
        """Bind the servers and SDP on the interface's link-local address."""
        cfg = self.transport
        self._codecs.load(["app", "common", *{energy_namespace(s) for s in self.config.services}])
        # Loopback (simulation): ::1; a real interface: its link-local address (-2 [V2G2-...])
        address = LOOPBACK_ADDRESS if cfg.interface == LOOPBACK else link_local_address(
            cfg.interface)
        if address is None:
            raise SeccError(f"{cfg.interface} has no usable IPv6 link-local address")
        tcp_port = tls_port = None
        try:
            if cfg.tls in ("none", "optional"):
                tcp_port = await self._listen(address, cfg.tcp_port, None)
            if cfg.tls in ("optional", "required"):
                tls_port = await self._listen(address, cfg.tls_port, tls_context(cfg))
            self.offer = SdpOffer(address, tcp_port, tls_port, cfg.tls)
            self._sdp = await serve_sdp(cfg.interface, SdpResponder(self.offer), cfg.sdp_port)
        except BaseException:
            await self.stop()
            raise
        log.info("SECC on %s%%%s: tcp %s tls %s", address, cfg.interface, tcp_port, tls_port)
        if cfg.key_log is not None:
            log.warning("SECC: TLS keys are written to %s (debugging only)", cfg.key_log)
        return self.offer

    async def stop(self) -> None:
        if self._sdp is not None:
            self._sdp.close()
            self._sdp = None
        if self._active is not None:
            self._active.close()
        for server in self._servers:
            server.close()
        if self._tasks:  # the handlers end with their connections; none outlives us
            await asyncio.wait(set(self._tasks), timeout=5.0)
            for task in self._tasks:
                task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=5.0)
        self._servers.clear()

    async def _listen(self, address: str, port: int, tls: ssl.SSLContext | None) -> int:
        ifindex = socket.if_nametoindex(self.transport.interface)
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            _bind_dynamic(sock, address, port, ifindex)
        except OSError:
            sock.close()
            raise
        server = await asyncio.start_server(
            self._connection,
            sock=sock,
            ssl=tls,
            ssl_handshake_timeout=self.transport.handshake_timeout_s if tls else None,
        )
        self._servers.append(server)
        bound: int = sock.getsockname()[1]
        return bound

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        peer = writer.get_extra_info("peername")
        if self._active is not None:  # one session per EVSE
            self.refused += 1
            log.warning("SECC: refused %s, a session is active", peer)
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
            return
        self._active = writer
        self.sessions += 1
        try:
            cipher = writer.get_extra_info("cipher")
            if cipher is not None and cipher[0] not in TLS_SUITES_20:
                log.warning("SECC: %s negotiated %s, not a -20 suite", peer, cipher[0])
                return
            await self._serve(reader, writer)
        except (OSError, ssl.SSLError) as exc:
            log.info("SECC: connection from %s lost: %s", peer, exc)
        finally:
            self._active = None
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls = writer.get_extra_info("ssl_object")
        cert = tls.getpeercert(binary_form=True) if tls is not None else None
        session = Session(
            self.config,
            self._clock(),
            codecs=self._codecs,
            paused=self._paused,
            random_bytes=self._random_bytes,
            peer=hashlib.sha256(cert).digest() if cert else None,
        )
        framer = v2gtp.Framer(self.transport.max_payload)
        try:
            while True:
                wait = max(0.0, session.deadline - self._clock())
                try:
                    # asyncio.timeout: 3.11's wait_for can swallow a cancel at a read.
                    async with asyncio.timeout(wait):
                        data = await reader.read(_READ_CHUNK)
                except TimeoutError:
                    self._finish(session.poll(self._clock()))
                    return
                if not data:
                    self._finish(session.abort("connection closed by the car"))
                    return
                for item in framer.feed(data):
                    if isinstance(item, v2gtp.V2gtpError):
                        self._finish(session.abort(f"V2GTP {item.code}: {item.detail}"))
                        return
                    t0 = time.perf_counter()
                    reply = session.receive(
                        item.payload_type, item.payload, self._station.view(), self._clock()
                    )
                    if reply.actions:
                        self._station.act(reply.actions)
                    if reply.data:
                        writer.write(reply.data)
                        await writer.drain()
                        if self._on_response is not None and reply.request is not None:
                            self._on_response(reply.request, time.perf_counter() - t0)
                    if reply.ended:
                        return
        finally:
            # whatever ended the loop (a lost socket too), the station hears it once
            self._finish(session.abort("connection lost"))

    def _finish(self, reply: Reply | None) -> None:
        if reply is not None and reply.actions:
            self._station.act(reply.actions)


# ISO 15118-2 [V2G2-064] (kept by -20): the SECC's TCP / TLS server port is taken from
# the dynamic range 49152-65535; cars check it (the `iso15118` package's EVCC refuses an
# SDP answer outside it). Linux's ephemeral range (port 0) starts at 32768.
DYNAMIC_PORTS: Final = (49152, 65535)


def _bind_dynamic(sock: socket.socket, address: str, port: int, ifindex: int) -> None:
    if port:
        sock.bind((address, port, 0, ifindex))
        return
    for _ in range(64):
        candidate = 49152 + secrets.randbelow(65535 - 49152 + 1)
        try:
            sock.bind((address, candidate, 0, ifindex))
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, "no free port in 49152-65535 after 64 tries")
