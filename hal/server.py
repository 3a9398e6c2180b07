"""The Unix-socket side of hal: one `Connection` per client, the contract's handshake
and roles, error replies for bad input, and non-blocking sends so no client can stall
the loop.

A malformed, unknown or invalid message gets an `error` reply and is logged (the log
filter rate-limits repeats); the connection stays. Only a broken frame (oversized length
prefix: the byte stream has lost its framing) ends that connection, after the error
reply; the server keeps serving.

Roles (docs/hal-contract.md): at most one `controller` at a time. A second controller
is refused (`too_many_clients`, closed) rather than taking over: the one in charge keeps
charge, so a stray or duplicate process can never seize power control from a running
evse; a restarted evse gets the slot as soon as its old socket closes (the kernel closes
it when the old process dies) and hal_client retries with back-off meanwhile. The
number of connections is bounded (`hal.max_clients`): each costs a task and a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from hal.protocol import (
    E_HANDSHAKE,
    E_INVALID_FIELD,
    E_TOO_MANY_CLIENTS,
    E_VERSION,
    PROTOCOL_VERSION,
    ROLE_CONTROLLER,
    ROLE_OBSERVER,
    Error,
    FrameDecoder,
    Hello,
    Message,
    ProtocolError,
    decode_message,
    encode_message,
)

log = logging.getLogger(__name__)

_SEND_QUEUE_FRAMES = 2000  # ~20 s of reports at 10 Hz for two EVSEs
# A client may not starve the sample loop: read in small chunks, yield after each, and
# stop reading (socket backpressure) beyond a message budget far above what evse needs.
_READ_CHUNK = 4096
_MSGS_PER_S = 2000.0
_MSG_BURST = 400.0


class Handler(Protocol):
    def welcome(self, conn: Connection) -> list[Message]: ...
    def handle(self, conn: Connection, msg: Message) -> list[Message]: ...


# Grants a role at hello: None when granted, else the error code to refuse it with.
Admit = Callable[["Connection", str], str | None]


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: Handler,
        name: str,
        admit: Admit | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self._admit = admit
        self.name = name
        self.client = ""
        self.role = ""  # granted at hello: ROLE_CONTROLLER or ROLE_OBSERVER
        self.ready = False  # handshake done
        self.bad_messages = 0
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue(_SEND_QUEUE_FRAMES)
        self._overflow = False
        self._closing = False
        self._tokens = _MSG_BURST
        self._tokens_t = time.monotonic()

    async def _pace(self, messages: int) -> None:
        """Token bucket over the messages read: sleep when the client sends too fast."""
        now = time.monotonic()
        self._tokens = min(_MSG_BURST, self._tokens + (now - self._tokens_t) * _MSGS_PER_S)
        self._tokens_t = now
        self._tokens -= messages
        await asyncio.sleep(max(0.0, -self._tokens / _MSGS_PER_S))

    def send(self, msg: Message) -> None:
        """Queue a message; never blocks. A client too slow to drain its queue is cut."""
        if self._overflow or self._writer.is_closing():
            return
        try:
            self._out.put_nowait(encode_message(msg))
        except asyncio.QueueFull:
            self._overflow = True
            log.error("%s: client too slow, closing the connection", self.name)
            # abort(): drop the socket now; the read loop then sees the connection gone.
            self._writer.transport.abort()

    def abort(self) -> None:
        """Drop the socket now (server shutdown): `serve` then sees the end and returns."""
        self._writer.transport.abort()

    async def _write_loop(self) -> None:
        while True:
            frame = await self._out.get()
            if frame is None:
                return
            self._writer.write(frame)
            await self._writer.drain()

    async def serve(self) -> None:
        writer_task = asyncio.create_task(self._write_loop(), name=f"{self.name}-writer")
        decoder = FrameDecoder()
        try:
            while not decoder.broken and not self._closing:
                data = await self._reader.read(_READ_CHUNK)
                if not data:
                    if decoder.pending:
                        log.warning("%s: closed mid-frame (%d bytes)", self.name, decoder.pending)
                    break
                handled = 0
                try:
                    for payload in decoder.feed(data):
                        self._on_payload(payload)
                        handled += 1
                        if self._closing:
                            break
                except ProtocolError as exc:  # oversized frame: framing is lost
                    log.warning("%s: %s; closing", self.name, exc)
                    self.send(Error(exc.code, exc.detail))
                await self._pace(handled)
        except (ConnectionError, OSError) as exc:
            log.info("%s: connection error: %s", self.name, exc)
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                self._out.put_nowait(None)  # flush what is queued, then stop
            try:
                await asyncio.wait_for(writer_task, 1.0)
            except (TimeoutError, ConnectionError, OSError):
                writer_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                    await writer_task
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()

    def _on_payload(self, payload: bytes) -> None:
        try:
            msg = decode_message(payload)
        except ProtocolError as exc:
            self.bad_messages += 1
            log.warning("%s: bad message: %s", self.name, exc)
            self.send(Error(exc.code, exc.detail))
            return
        if not self.ready:
            if not isinstance(msg, Hello):
                self.send(Error(E_HANDSHAKE, "send hello first", msg.TYPE))
                return
            if msg.version != PROTOCOL_VERSION:
                log.warning("%s: protocol version %d refused", self.name, msg.version)
                self.send(
                    Error(E_VERSION, f"hal speaks version {PROTOCOL_VERSION}, not {msg.version}")
                )
                self._closing = True  # flush the error, then close
                return
            self._hello(msg)
            return
        for reply in self._handler.handle(self, msg):
            self.send(reply)

    def _hello(self, msg: Hello) -> None:
        if msg.role not in (ROLE_CONTROLLER, ROLE_OBSERVER):
            self._refuse(E_INVALID_FIELD, f"hello.role: {msg.role!r} is not controller/observer")
            return
        refused = self._admit(self, msg.role) if self._admit is not None else None
        if refused is not None:
            self._refuse(refused, f"a controller is already connected; {msg.role} refused")
            return
        self.ready = True
        self.client = msg.client
        self.role = msg.role
        log.info("%s: hello from %r as %s", self.name, msg.client, msg.role)
        for m in self._handler.welcome(self):
            self.send(m)

    def _refuse(self, code: str, why: str) -> None:
        log.warning("%s: %s", self.name, why)
        self.send(Error(code, why, Hello.TYPE))
        self._closing = True  # flush the error, then close


class Server:
    """Accepts clients on a Unix socket and keeps track of them for broadcasts."""

    def __init__(self, handler: Handler, max_clients: int = 8) -> None:
        self._handler = handler
        self._max_clients = max_clients
        self.controller: Connection | None = None
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._count = 0
        self.on_disconnect: Callable[[Connection], None] | None = None

    async def start(self, path: str) -> None:
        self._server = await asyncio.start_unix_server(self._accept, path=path)

    def _admit(self, conn: Connection, role: str) -> str | None:
        if role == ROLE_CONTROLLER:
            if self.controller is not None and self.controller is not conn:
                return E_TOO_MANY_CLIENTS
            self.controller = conn
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count += 1
        name = f"client#{self._count}"
        if len(self.connections) >= self._max_clients:
            await _turn_away(writer, name, self._max_clients)
            return
        conn = Connection(reader, writer, self._handler, name, self._admit)
        self.connections.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)
            if self.controller is conn:
                self.controller = None
            if task is not None:
                self._tasks.discard(task)
            if self.on_disconnect is not None:
                self.on_disconnect(conn)
            if conn.bad_messages:
                log.warning("%s: disconnected (%d bad messages)", conn.name, conn.bad_messages)
            else:
                log.info("%s: disconnected", conn.name)

    def broadcast(self, msg: Message) -> None:
        for conn in list(self.connections):
            if conn.ready:
                conn.send(msg)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # End the handlers before wait_closed() (from 3.12 it waits for them). Drop each
        # socket so its handler returns by itself: a cancelled handler task makes 3.11's
        # stream callback log a CancelledError traceback. Cancel only what lingers.
        for conn in list(self.connections):
            conn.abort()
        tasks = list(self._tasks)
        if tasks:
            _, lingering = await asyncio.wait(tasks, timeout=2.0)
            for task in lingering:
                task.cancel()
            for task in lingering:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            await self._server.wait_closed()


async def _turn_away(writer: asyncio.StreamWriter, name: str, limit: int) -> None:
    """One connection over `hal.max_clients`: say why, then close (it never says hello)."""
    why = f"hal serves at most {limit} connections"
    log.warning("%s: %s; refused", name, why)
    writer.write(encode_message(Error(E_TOO_MANY_CLIENTS, why)))
    with contextlib.suppress(TimeoutError, ConnectionError, OSError):
        await asyncio.wait_for(writer.drain(), 1.0)
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
