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
        # Station-initiated CALLs whose response schema requires fields: an empty
        # answer would be a schema violation by the CSMS itself.
        "NotifyEVChargingNeeds": {"status": "Accepted"},
        "NotifyEVChargingSchedule": {"status": "Accepted"},
        "SignCertificate": {"status": "Accepted"},
        "PullDynamicScheduleUpdate": {"status": "Rejected"},  # no schedule to give
        "OpenPeriodicEventStream": {"status": "Accepted"},
        "GetCertificateStatus": {"status": "Failed"},  # no OCSP responder here
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

    async def wait_until(self, predicate: Callable[[], bool], seconds: float = 30.0) -> None:
        """Wait (real time) until `predicate()` holds; TimeoutError otherwise."""
        async with asyncio.timeout(seconds):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    action: str
    payload: Payload
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class CsmsScript:
    """What `evse csms --script FILE` runs (a TOML file):

    versions = ["2.1", "2.0.1"]            # accepted subprotocols, preferred first
    [passwords]                            # basic auth per station id (optional)
    CS001 = "0123456789abcdef"
    [tls]                                  # optional: wss:// (profile 2/3)
    cert = "csms.pem"
    key = "csms.key"
    client_ca = "ca.pem"                   # present: client certificates required
    [responses.BootNotification]           # answers to station CALLs (currentTime
    status = "Accepted"                    # is filled in when missing)
    interval = 300
    [[on_connect]]                         # CALLs made to each station that connects
    action = "GetBaseReport"
    payload = { requestId = 1, reportBase = "FullInventory" }
    delay = 1.0                            # seconds after connect / the previous call
    """

    versions: tuple[str, ...]
    passwords: dict[str, str]
    responses: dict[str, Payload]
    on_connect: tuple[ScriptedCall, ...]
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None


def parse_script(data: Mapping[str, Any]) -> CsmsScript:
    """Validate a script table; raises ValueError naming the key."""
    names = {"2.1": "ocpp2.1", "2.0.1": "ocpp2.0.1"}
    versions = data.get("versions", ["2.1", "2.0.1"])
    if not isinstance(versions, list) or any(v not in names for v in versions):
        raise ValueError(f"versions: must be a list from 2.1, 2.0.1, got {versions!r}")
    responses = data.get("responses", {})
    if not isinstance(responses, dict) or any(not isinstance(v, dict) for v in responses.values()):
        raise ValueError("responses: must be a table of tables (one per action)")
    calls = []
    for i, item in enumerate(data.get("on_connect", [])):
        if not isinstance(item, dict) or not isinstance(item.get("action"), str):
            raise ValueError(f'on_connect[{i}]: needs action = "..."')
        payload = item.get("payload", {})
        if not isinstance(payload, dict):
            raise ValueError(f"on_connect[{i}].payload: must be a table")
        calls.append(ScriptedCall(item["action"], payload, float(item.get("delay", 0.0))))
    tls = data.get("tls", {})
    unknown = set(data) - {"versions", "passwords", "responses", "on_connect", "tls"}
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown key")
    return CsmsScript(
        versions=tuple(names[v] for v in versions),
        passwords={str(k): str(v) for k, v in data.get("passwords", {}).items()},
        responses=responses,
        on_connect=tuple(calls),
        tls_cert=tls.get("cert"),
        tls_key=tls.get("key"),
        tls_client_ca=tls.get("client_ca"),
    )


def csms_from_script(script: CsmsScript, clock: RealClock | None = None) -> ScriptedCsms:
    clock = clock or RealClock()
    ctx = None
    if script.tls_cert and script.tls_key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(script.tls_cert, script.tls_key)
        if script.tls_client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=script.tls_client_ca)

    def responder(fixed: Payload) -> Responder:
        def answer(_: Payload) -> Payload:
            out = dict(fixed)
            if "currentTime" not in out and fixed is not None:
                out["currentTime"] = iso(clock.wall())
            return out

        return answer

    responses: dict[str, Responder] = {}
    for action, fixed in script.responses.items():
        responses[action] = (
            responder(fixed) if action in ("BootNotification", "Heartbeat") else fixed
        )
    holder: list[ScriptedCsms] = []

    async def on_connect(station: str) -> None:
        for call in script.on_connect:
            await asyncio.sleep(call.delay)
            result = await holder[0].call(call.action, call.payload, station)
            log.info("%s %s -> %s", station, call.action, result)

    csms = ScriptedCsms(
        responses,
        script.versions,
        ctx,
        script.passwords,
        on_connect=on_connect if script.on_connect else None,
    )
    holder.append(csms)
    return csms
