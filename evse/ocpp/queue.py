"""The outgoing message queue: strict order, persistence, retries.

Transaction-related messages (TransactionEvent, SecurityEventNotification, and the DER
notifications that a trusted stack loses offline) are always written to SQLite before
anyone is told they were sent; other messages are persisted when
OCPPCommCtrlr.QueueAllMessages is true, else held in memory (bounded). One sender
delivers them in the order they were queued, each until it gets a CALLRESULT, a message
that fails MessageAttempts times is dropped, and the wait before attempt n+1 is
MessageAttemptInterval x n (E04, E13: TransactionEvent retries).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from evse.ocpp.clock import Clock
from evse.ocpp.endpoint import CallTimeout, OcppCallError
from evse.ocpp.rpc import OutgoingInvalid
from evse.store import QueuedMessage, Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]

# Always persisted: the CSMS bills and audits from these.
ALWAYS_PERSISTED = frozenset(
    {
        "TransactionEvent",
        "SecurityEventNotification",
        "NotifyDERAlarm",
        "NotifyDERStartStop",
        "ReportDERControl",
    }
)


@dataclass(frozen=True, slots=True)
class QueueSettings:
    message_attempts: int = 3
    attempt_interval: float = 30.0
    queue_all: bool = False
    max_volatile: int = 1000


class Caller(Protocol):
    async def call(
        self, action: str, payload: Payload, message_id: str | None = None
    ) -> Payload: ...


Delivered = Callable[[str, Payload, Payload], Awaitable[None]]


@dataclass(slots=True)
class _Volatile:
    after_seq: int  # the last persisted seq when this was queued: it goes right after it
    order: int
    message_id: str
    action: str
    payload: Payload
    attempts: int = 0


class MessageQueue:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: Callable[[], QueueSettings],
        on_delivered: Delivered | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._on_delivered = on_delivered
        self._volatile: deque[_Volatile] = deque()
        self._order = itertools.count()
        self._last_seq = store.queue_last_seq()
        self._wake = asyncio.Event()
        self.dropped = 0

    # -- producers --------------------------------------------------------------------

    def push(self, action: str, payload: Payload) -> None:
        """Queue a CS-initiated CALL; persisted if it is transaction-related or QueueAll."""
        mid = str(uuid.uuid4())
        settings = self._settings()
        if action in ALWAYS_PERSISTED or settings.queue_all:
            kind = "transaction" if action in ALWAYS_PERSISTED else "normal"
            self._last_seq = self._store.queue_append(mid, action, payload, kind)
        else:
            if len(self._volatile) >= settings.max_volatile:
                old = self._volatile.popleft()
                self.dropped += 1
                log.warning("queue full: dropped %s %s", old.action, old.message_id)
            self._volatile.append(
                _Volatile(self._last_seq, next(self._order), mid, action, payload)
            )
        self._wake.set()

    def push_transaction_event(
        self,
        transaction_id: str,
        build: Callable[[int], Payload],
        ends: bool = False,
        create: tuple[int, int] | None = None,
        data: Payload | None = None,
    ) -> int:
        """Persist a TransactionEvent with the transaction's next seqNo; returns it."""
        seq, seq_no = self._store.queue_append_tx_event(
            transaction_id, str(uuid.uuid4()), build, ends, create, data
        )
        self._last_seq = seq
        self._wake.set()
        return seq_no

    def __len__(self) -> int:
        return self._store.queue_len() + len(self._volatile)

    def pending_actions(self) -> list[str]:
        return [m.action for m in self._store.queue_all()] + [v.action for v in self._volatile]

    # -- the sender -------------------------------------------------------------------

    def _head(self) -> QueuedMessage | _Volatile | None:
        persisted = self._store.queue_head()
        vol = self._volatile[0] if self._volatile else None
        if vol is not None and (persisted is None or vol.after_seq < persisted.seq):
            return vol
        return persisted

    def _remove(self, item: QueuedMessage | _Volatile) -> None:
        if isinstance(item, _Volatile):
            self._volatile.popleft()
        else:
            self._store.queue_delete(item.seq)

    async def run(self, caller: Caller) -> None:
        """Deliver in order until the connection drops (ConnectionLost propagates and
        the message in flight stays queued, to be sent again with the same id)."""
        while True:
            item = self._head()
            if item is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                response = await caller.call(item.action, item.payload, item.message_id)
            except (OcppCallError, CallTimeout) as exc:
                await self._failed(item, exc)
                continue
            except OutgoingInvalid as exc:
                # Not valid in the negotiated version: a bug on our side; sending it again
                # cannot help, and holding it would block every later message.
                log.error("dropping %s %s: %s", item.action, item.message_id, exc)
                self.dropped += 1
                self._remove(item)
                continue
            self._remove(item)
            if self._on_delivered is not None:
                await self._on_delivered(item.action, item.payload, response)

    async def _failed(self, item: QueuedMessage | _Volatile, exc: Exception) -> None:
        settings = self._settings()
        attempts = item.attempts + 1
        if attempts >= settings.message_attempts:
            log.error(
                "dropping %s %s after %d attempts: %s", item.action, item.message_id, attempts, exc
            )
            self.dropped += 1
            self._remove(item)
            return
        if isinstance(item, _Volatile):
            item.attempts = attempts
        else:
            self._store.queue_set_attempts(item.seq, attempts)
        log.warning("%s %s failed (%s), attempt %d", item.action, item.message_id, exc, attempts)
        await self._clock.sleep(settings.attempt_interval * attempts)
