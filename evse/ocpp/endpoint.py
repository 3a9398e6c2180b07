"""Async adapter: runs an `RpcSession` over one WebSocket (or any text transport).

The reader loop never waits for a handler: each incoming CALL runs in its own task inside
the endpoint's TaskGroup, so a handler can make a CALL of its own and wait for the
answer without deadlocking the connection (the `ocpp` package's ChargePoint cannot).
Outgoing CALLs are serialized by a lock: one outstanding CALL (OCPP-J 4.1.1).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol

from evse.ocpp.clock import Clock, wait_for
from evse.ocpp.json_bounds import frame_head
from evse.ocpp.rpc import (
    CallReceived,
    CallTimedOut,
    ErrorReceived,
    Event,
    Ignored,
    MessageType,
    ResultErrorReceived,
    ResultReceived,
    RpcSession,
    SendReceived,
)

log = logging.getLogger(__name__)

Payload = dict[str, Any]
BIG_FRAME = 64 * 1024  # characters: frames beyond are decoded off the event loop


class Reply:
    """A handler's answer plus work to do once the answer is on the wire (a NotifyReport
    after GetBaseReport, a reset after ResetResponse, a triggered message ...)."""

    __slots__ = ("payload", "then")

    def __init__(self, payload: Payload, then: Callable[[], Awaitable[None]]) -> None:
        self.payload = payload
        self.then = then


Handler = Callable[[Payload], Awaitable[Payload | Reply]]
SendHandler = Callable[[Payload], Coroutine[Any, Any, None]]


class OcppCallError(Exception):
    """A CALLERROR: raised by a handler to answer with it, raised by `call` on receipt."""

    def __init__(self, code: str, description: str = "", details: Payload | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


class CallTimeout(Exception):
    """No answer within the message timeout (OCPP-J 4.1.1)."""


class ConnectionLost(Exception):
    """The transport closed while a CALL was outstanding or being sent."""


class Transport(Protocol):
    async def send(self, message: str) -> None: ...
    async def recv(self) -> str | bytes: ...


class RpcEndpoint:
    """One connection: `run()` reads until the transport closes; `call()` from anywhere."""

    def __init__(
        self,
        session: RpcSession,
        transport: Transport,
        clock: Clock,
        handlers: Mapping[str, Handler],
        send_handlers: Mapping[str, SendHandler] | None = None,
        closed_errors: tuple[type[BaseException], ...] = (),
        on_frame: Callable[[str, str], None] | None = None,
    ) -> None:
        self.session = session
        self._transport = transport
        self._clock = clock
        self._handlers = handlers
        self._send_handlers = send_handlers or {}
        self._closed_errors = closed_errors
        self._on_frame = on_frame  # (direction "in"/"out", text): for logs and test probes
        self._lock = asyncio.Lock()
        self._waiting: tuple[str, asyncio.Future[Payload]] | None = None
        self._closed = False

    @property
    def version(self) -> str:
        return str(self.session.version)

    async def _write(self, text: str) -> None:
        if self._on_frame is not None:
            self._on_frame("out", text)
        try:
            await self._transport.send(text)
        except self._closed_errors as exc:
            raise ConnectionLost(str(exc)) from exc

    async def call(self, action: str, payload: Payload, message_id: str | None = None) -> Payload:
        """Send a CALL and wait for its CALLRESULT; raises OcppCallError / CallTimeout /
        ConnectionLost. Callers queue on the lock, so only one CALL is ever outstanding."""
        async with self._lock:
            if self._closed:
                raise ConnectionLost("connection closed")
            now = self._clock.monotonic()
            mid, frame = self.session.start_call(action, payload, now, message_id)
            fut: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
            self._waiting = (mid, fut)
            try:
                await self._write(frame)
                return await wait_for(self._clock, asyncio.shield(fut), self.session.call_timeout)
            except TimeoutError as exc:
                raise CallTimeout(f"{action} {mid}") from exc
            finally:
                self._waiting = None
                self.session.abandon_call(mid)

    async def send_unconfirmed(self, action: str, payload: Payload) -> None:
        """2.1 SEND: no answer, allowed while a CALL is outstanding."""
        await self._write(self.session.send(action, payload))

    async def run(self) -> None:
        """Read frames until the transport closes, then raise ConnectionLost."""
        try:
            async with asyncio.TaskGroup() as tasks:
                try:
                    while True:
                        try:
                            raw = await self._transport.recv()
                        except self._closed_errors as exc:
                            raise ConnectionLost(str(exc)) from exc
                        if isinstance(raw, bytes):
                            try:
                                raw = raw.decode("utf-8")
                            except UnicodeDecodeError:
                                raw = "\x00"  # not JSON: answered with RpcFrameworkError
                        if self._on_frame is not None:
                            self._on_frame("in", raw)
                        events, out = await self._receive(raw)
                        for frame in out:
                            await self._write(frame)
                        for event in events:
                            self._dispatch(event, tasks)
                finally:
                    self._closed = True
                    self._fail_waiting(ConnectionLost("connection closed"))
        except* ConnectionLost as group:
            raise group.exceptions[0] from None

    async def _receive(self, raw: str) -> tuple[list[Event], list[str]]:
        try:
            if len(raw) > BIG_FRAME:
                # Parsing and schema checks of a large frame take long (seconds at 4 MiB):
                # on a worker thread, so timers, keep-alives and other tasks go on.
                decoded = await asyncio.to_thread(self.session.decode, raw)
            else:
                decoded = self.session.decode(raw)
            return self.session.apply(decoded, self._clock.monotonic())
        except Exception:
            # A bug in the RPC core must not end the connection: the peer gets an
            # InternalError for its CALL (OCPP-J 4.3), we get the traceback in the log.
            log.exception("could not process a frame of %d characters", len(raw))
            head = frame_head(raw)
            if head is None or head[0] != MessageType.CALL:
                return [], []
            return [], [self.session.answer_error(head[1], "InternalError", "frame not processed")]

    def _fail_waiting(self, exc: Exception) -> None:
        if self._waiting is not None and not self._waiting[1].done():
            self._waiting[1].set_exception(exc)

    def _resolve(self, mid: str, result: Payload | Exception) -> None:
        if self._waiting is None or self._waiting[0] != mid or self._waiting[1].done():
            return
        if isinstance(result, Exception):
            self._waiting[1].set_exception(result)
        else:
            self._waiting[1].set_result(result)

    def _dispatch(self, event: Event, tasks: asyncio.TaskGroup) -> None:
        if isinstance(event, CallReceived):
            tasks.create_task(self._handle(event))
        elif isinstance(event, ResultReceived):
            self._resolve(event.message_id, event.payload)
        elif isinstance(event, ErrorReceived):
            self._resolve(
                event.message_id, OcppCallError(event.code, event.description, event.details)
            )
        elif isinstance(event, CallTimedOut):
            self._resolve(event.message_id, CallTimeout(event.action))
        elif isinstance(event, SendReceived):
            handler = self._send_handlers.get(event.action)
            if handler is not None:
                tasks.create_task(handler(event.payload))
        elif isinstance(event, ResultErrorReceived):
            log.warning("peer rejected our CALLRESULT %s: %s", event.message_id, event.code)
        elif isinstance(event, Ignored):
            log.info("ignored frame: %s", event.reason)

    async def _handle(self, event: CallReceived) -> None:
        handler = self._handlers.get(event.action)
        then: Callable[[], Awaitable[None]] | None = None
        if handler is None:
            # A known action we do not offer: NotSupported (unknown ones got NotImplemented).
            frame = self.session.answer_error(
                event.message_id, "NotSupported", f"{event.action} is not supported"
            )
        else:
            try:
                result = await handler(event.payload)
                if isinstance(result, Reply):
                    then = result.then
                    answer = result.payload
                else:
                    answer = result
                frame = self.session.answer(event.message_id, answer)
            except OcppCallError as exc:
                frame = self.session.answer_error(
                    event.message_id, exc.code, exc.description, exc.details
                )
            except (ConnectionLost, CallTimeout) as exc:
                # The handler's own CALL failed: the action could not be completed.
                frame = self.session.answer_error(event.message_id, "InternalError", str(exc))
            except Exception as exc:
                # A bug in one handler must not take the link down: answer InternalError
                # (OCPP-J 4.3) and log it loudly with the traceback.
                log.exception("handler for %s failed", event.action)
                frame = self.session.answer_error(
                    event.message_id, "InternalError", type(exc).__name__
                )
        try:
            await self._write(frame)
        except ConnectionLost:
            log.info("connection closed before %s was answered", event.action)
            return
        if then is not None:
            try:
                await then()
            except (ConnectionLost, CallTimeout, OcppCallError) as exc:
                log.warning("follow-up of %s did not complete: %s", event.action, exc)
            except Exception:
                log.exception("follow-up of %s failed", event.action)
