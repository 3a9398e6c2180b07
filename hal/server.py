"""The Unix-socket side of hal: one `Connection` per client, the contract's handshake,
error replies for bad input, and non-blocking sends so no client can stall the loop.

A malformed, unknown or invalid message gets an `error` reply and is logged; the
connection stays. Only a broken frame (oversized length prefix: the byte stream has lost
its framing) ends that connection, after the error reply; the server keeps serving.
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
    E_VERSION,
    PROTOCOL_VERSION,
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
    def welcome(self) -> list[Message]: ...
    def handle(self, conn: Connection, msg: Message) -> list[Message]: ...


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: Handler,
        name: str,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self.name = name
        self.client = ""
        self.ready = False  # handshake done
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
        if self._overflow:
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
            self.ready = True
            self.client = msg.client
            log.info("%s: hello from %r", self.name, msg.client)
            for m in self._handler.welcome():
                self.send(m)
            return
        for reply in self._handler.handle(self, msg):
            self.send(reply)


class Server:
    """Accepts clients on a Unix socket and keeps track of them for broadcasts."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._count = 0
        self.on_disconnect: Callable[[Connection], None] | None = None

    async def start(self, path: str) -> None:
        self._server = await asyncio.start_unix_server(self._accept, path=path)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count += 1
        conn = Connection(reader, writer, self._handler, f"client#{self._count}")
        self.connections.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)
            if task is not None:
                self._tasks.discard(task)
            if self.on_disconnect is not None:
                self.on_disconnect(conn)
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
