"""evse's side of the hal contract: connect, handshake, keep-alive, reconnect.

`HalClient.run()` keeps one connection up for as long as it runs: on loss it retries
with a capped back-off, and after every (re)connect it calls `on_connect` so the owner
re-sends its full state (hal holds power at zero after a keep-alive loss until evse asks
again). Incoming messages go to `on_message`; sending never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from hal.protocol import (
    PROTOCOL_VERSION,
    Error,
    FrameDecoder,
    Hello,
    KeepAlive,
    Message,
    ProtocolError,
    Welcome,
    decode_message,
    encode_message,
)

log = logging.getLogger(__name__)

_HANDSHAKE_TIMEOUT_S = 5.0
_BACKOFF_START_S = 0.05
_BACKOFF_MAX_S = 2.0


class HalClient:
    def __init__(
        self,
        socket_path: Path,
        client_name: str,
        keepalive_interval_s: float,
        on_message: Callable[[Message], None],
        on_connect: Callable[[Welcome], None] | None = None,
    ) -> None:
        self._path = socket_path
        self._name = client_name
        self._interval = keepalive_interval_s
        self._on_message = on_message
        self._on_connect = on_connect
        self._writer: asyncio.StreamWriter | None = None
        self.welcome: Welcome | None = None
        self.connected = asyncio.Event()
        self.connects = 0

    def send(self, msg: Message) -> bool:
        """Send if connected; False otherwise (the owner re-sends state on connect)."""
        if self._writer is None or self._writer.is_closing():
            return False
        self._writer.write(encode_message(msg))
        return True

    async def run(self, stop: asyncio.Event) -> None:
        backoff = _BACKOFF_START_S
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_unix_connection(str(self._path))
            except (FileNotFoundError, ConnectionRefusedError, OSError) as exc:
                log.debug("hal not reachable at %s: %s", self._path, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            connects = self.connects
            try:
                await self._session(reader, writer, stop)
            except (ConnectionError, OSError, ProtocolError) as exc:
                log.warning("hal connection lost: %s", exc)
            finally:
                self._writer = None
                self.connected.clear()
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()
            if self.connects > connects:
                backoff = _BACKOFF_START_S  # it was up: try again at once
                continue
            # Refused at the handshake (hal still holds the controller slot of our old
            # connection, or is full): back off as for a failed connect.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event
    ) -> None:
        decoder = FrameDecoder()
        writer.write(encode_message(Hello(PROTOCOL_VERSION, self._name)))
        welcome = await asyncio.wait_for(self._first(reader, decoder), _HANDSHAKE_TIMEOUT_S)
        self.welcome = welcome
        self._writer = writer
        self.connects += 1
        self.connected.set()
        log.info("connected to hal (%d EVSE)", len(welcome.evses))
        if self._on_connect is not None:
            self._on_connect(welcome)
        tasks = [
            asyncio.create_task(self._keepalive(writer, stop)),
            asyncio.create_task(self._read(reader, decoder)),
            asyncio.create_task(stop.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for t in done:
            if not t.cancelled() and (exc := t.exception()) is not None:
                raise exc

    async def _first(self, reader: asyncio.StreamReader, decoder: FrameDecoder) -> Welcome:
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("hal closed during the handshake")
            for payload in decoder.feed(data):
                msg = decode_message(payload)
                if isinstance(msg, Welcome):
                    return msg
                if isinstance(msg, Error):
                    raise ProtocolError(msg.code, msg.message)

    async def _read(self, reader: asyncio.StreamReader, decoder: FrameDecoder) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("hal closed the connection")
            for payload in decoder.feed(data):
                try:
                    msg = decode_message(payload)
                except ProtocolError as exc:
                    log.error("bad message from hal: %s", exc)
                    continue
                if isinstance(msg, Error):
                    log.warning("hal error %s: %s (%s)", msg.code, msg.message, msg.ref_type)
                self._on_message(msg)

    async def _keepalive(self, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            writer.write(encode_message(KeepAlive(seq)))
            await writer.drain()
            await asyncio.sleep(self._interval)
