"""A scripted CSMS for tests and for trying the station: real WebSockets (and TLS).

Every frame it receives goes through the same schema-validating RPC session as the
station's, so an invalid frame from the station is answered with a CALLERROR and
recorded in `errors_sent`. Station-initiated CALLs get scripted answers (a payload, or a
function of the request); tests drive CSMS-initiated CALLs with `call()` and raw frames
with `send_raw()`.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from evse.ocpp.clock import RealClock, iso
from evse.ocpp.endpoint import ConnectionLost, Handler, OcppCallError, RpcEndpoint
from evse.ocpp.rpc import RpcSession
from evse.ocpp.schemas import OcppVersion, SchemaRegistry

log = logging.getLogger(__name__)

Payload = dict[str, Any]
Responder = Payload | Callable[[Payload], Payload | Awaitable[Payload]]


@dataclass(frozen=True, slots=True)
class Received:
    station: str
    action: str
    payload: Payload
    version: str


def default_responses(clock: RealClock) -> dict[str, Responder]:
    def now(_: Payload) -> Payload:
        return {"currentTime": iso(clock.wall())}

    return {
        "BootNotification": lambda _: {
            "currentTime": iso(clock.wall()),
            "interval": 300,
            "status": "Accepted",
        },
        "Heartbeat": now,
        "Authorize": {"idTokenInfo": {"status": "Accepted"}},
        "DataTransfer": {"status": "Accepted"},
    }


class _AnyAction(Mapping[str, Handler]):
    """Answers every station-initiated action through one function."""

    def __init__(self, make: Callable[[str], Handler]) -> None:
        self._make = make

    def __getitem__(self, action: str) -> Handler:
        return self._make(action)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class ScriptedCsms:
    def __init__(
        self,
        responses: Mapping[str, Responder] | None = None,
        versions: tuple[str, ...] = (str(OcppVersion.V21), str(OcppVersion.V201)),
        ssl_context: ssl.SSLContext | None = None,
        passwords: Mapping[str, str] | None = None,
        call_timeout: float = 10.0,
        on_connect: Callable[[str], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.clock = RealClock()
        self.responses: dict[str, Responder] = default_responses(self.clock)
        self.responses.update(responses or {})
        self.versions = versions
        self._ssl = ssl_context
        self.passwords = dict(passwords or {})
        self._timeout = call_timeout
        self._on_connect = on_connect
        self._schemas = SchemaRegistry()
        self._server: Server | None = None
        self.port = 0
        self.stations: dict[str, RpcEndpoint] = {}
        self._conns: dict[str, ServerConnection] = {}
        self.received: list[Received] = []
        self.frames: list[tuple[str, str, str]] = []  # (station, "in"/"out", text)
        self.errors_sent: list[str] = []  # CALLERRORs we sent: the station sent bad frames
        self.connections = 0
        self.changed = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await serve(
            self._serve,
            host,
            port,
            subprotocols=[Subprotocol(v) for v in self.versions],
            select_subprotocol=self._select,
            process_request=self._check_auth,
            ssl=self._ssl,
        )
        sock = next(iter(self._server.sockets))
        self.port = int(sock.getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ScriptedCsms:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def drop(self, station: str) -> None:
        """Close the station's connection (a network loss from the station's view)."""
        conn = self._conns.get(station)
        if conn is not None:
            await conn.close()

    # -- handshake --------------------------------------------------------------------

    def _select(self, conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        for version in self.versions:
            if version in offered:
                return Subprotocol(version)
        return None  # OCPP-J 3.3: answer without a subprotocol, then close

    def _check_auth(self, conn: ServerConnection, request: Request) -> Response | None:
        station = unquote(request.path.rstrip("/").rsplit("/", 1)[-1])
        if station not in self.passwords:
            return None
        expected = base64.b64encode(f"{station}:{self.passwords[station]}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return conn.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    # -- per connection ---------------------------------------------------------------

    async def _serve(self, conn: ServerConnection) -> None:
        station = unquote(conn.request.path.rstrip("/").rsplit("/", 1)[-1]) if conn.request else ""
        self.connections += 1
        self.changed.set()
        if conn.subprotocol is None:
            await conn.close(1002, "no common OCPP version")
            return
        version = OcppVersion(conn.subprotocol)
        session = RpcSession(self._schemas.for_version(version), self._timeout)

        def on_frame(direction: str, text: str) -> None:
            self.frames.append((station, direction, text))
            if direction == "out" and text.startswith("[4"):
                self.errors_sent.append(text)
            self.changed.set()

        def make(action: str) -> Handler:
            async def handle(payload: Payload) -> Payload:
                self.received.append(Received(station, action, payload, str(version)))
                self.changed.set()
                responder = self.responses.get(action, {})
                result = responder(payload) if callable(responder) else responder
                if inspect.isawaitable(result):
                    result = await result
                assert isinstance(result, dict)
                return result

            return handle

        endpoint = RpcEndpoint(
            session, conn, self.clock, _AnyAction(make), None, (ConnectionClosed,), on_frame
        )
        self.stations[station] = endpoint
        self._conns[station] = conn
        self.changed.set()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(endpoint.run())
                if self._on_connect is not None:
                    tg.create_task(self._on_connect(station))
        except* ConnectionLost:
            pass
        except* OcppCallError as group:
            log.warning("scripted call failed: %s", group.exceptions[0])
        finally:
            if self.stations.get(station) is endpoint:
                del self.stations[station]
                del self._conns[station]
            self.changed.set()

    # -- driving the station ----------------------------------------------------------

    def _only(self, station: str | None) -> str:
        if station is not None:
            return station
        if len(self.stations) != 1:
            raise LookupError(f"name the station: connected are {sorted(self.stations)}")
        return next(iter(self.stations))

    async def call(self, action: str, payload: Payload, station: str | None = None) -> Payload:
        """A CSMS-initiated CALL to `station` (or the only connected one)."""
        return await self.stations[self._only(station)].call(action, payload)

    async def send_raw(self, text: str, station: str | None = None) -> None:
        """Send any text frame (invalid ones included) to the station."""
        name = self._only(station)
        self.frames.append((name, "out", text))
        await self._conns[name].send(text)

    def of(self, action: str, station: str | None = None) -> list[Payload]:
        return [
            r.payload
            for r in self.received
            if r.action == action and (station is None or r.station == station)
        ]

    async def wait_until(self, predicate: Callable[[], bool], seconds: float = 10.0) -> None:
        """Wait (real time) until `predicate()` holds; TimeoutError otherwise."""
        async with asyncio.timeout(seconds):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
