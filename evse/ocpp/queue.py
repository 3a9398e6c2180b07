"""The outgoing message queue: strict order, persistence, retries.

Transaction-related messages (TransactionEvent, SecurityEventNotification, and the DER
notifications that a trusted stack loses offline) are always written to SQLite before
anyone is told they were sent; other messages are persisted when
OCPPCommCtrlr.QueueAllMessages is true, else held in memory (bounded). One sender
delivers them in the order they were queued, each until it gets a CALLRESULT, a message
that fails MessageAttempts times is dropped, and the wait before attempt n+1 is
MessageAttemptInterval x n (E04, E13: TransactionEvent retries).

The persisted queue is capped by rows and bytes. Beyond the cap, periodic meter values
(TransactionEvent Updated with MeterValuePeriodic / MeterValueClock) and non-transaction
messages are thinned out, every other one from the oldest, a bounded batch per message
queued; Started, Ended, every other Updated, security events and DER notifications are
never dropped. Drops are logged, counted (`thinned`) and reported once per episode with a
SecurityEventNotification MemoryExhaustion (Part 2 appendices, security events: "the
Flash or RAM memory of the Charging Station is getting full", critical). Statistics come
from counters; the sender's SQLite work runs on the store's DB thread.
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

from evse.ocpp.clock import Clock, iso
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
    max_rows: int = 50_000
    max_bytes: int = 32 * 1024 * 1024


THIN_BATCH = 32  # rows dropped per thinning step: bounded work per message queued
THIN_STEPS = 4  # steps at most per message queued


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
        stats = store.queue_stats()  # one indexed scan at start; counters from then on
        self._rows, self._bytes = stats.rows, stats.bytes
        self._wake = asyncio.Event()
        self.dropped = 0
        self.thinned = 0  # persisted messages dropped by the cap
        self._exhausted = False  # over the cap since the last report

    # -- producers --------------------------------------------------------------------

    def push(self, action: str, payload: Payload) -> None:
        """Queue a CS-initiated CALL; persisted if it is transaction-related or QueueAll."""
        mid = str(uuid.uuid4())
        settings = self._settings()
        if action in ALWAYS_PERSISTED or settings.queue_all:
            kind = "transaction" if action in ALWAYS_PERSISTED else "normal"
            self._last_seq, size = self._store.queue_append(mid, action, payload, kind)
            self._rows += 1
            self._bytes += size
            self._enforce_cap(settings)
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
        self._rows += 1
        self._bytes += self._store.last_append_bytes
        self._enforce_cap(self._settings())
        self._wake.set()
        return seq_no

    def _enforce_cap(self, settings: QueueSettings) -> None:
        def over() -> bool:
            return self._rows > settings.max_rows or self._bytes > settings.max_bytes

        if not over():
            if self._exhausted and (
                self._rows < settings.max_rows * 0.9 and self._bytes < settings.max_bytes * 0.9
            ):
                self._exhausted = False  # the next time over the cap is reported again
            return
        dropped: list[str] = []
        for _ in range(THIN_STEPS):
            rows, size, actions = self._store.queue_thin(THIN_BATCH)
            self._rows -= rows
            self._bytes -= size
            dropped += actions
            if rows == 0 or not over():
                break
        before, self.thinned = self.thinned, self.thinned + len(dropped)
        if dropped and (not self._exhausted or before // 1000 != self.thinned // 1000):
            # Once per episode and then per thousand dropped: a full queue must not
            # also flood the log.
            log.warning(
                "queue over its cap (%d rows, %d bytes): thinned out %d (%s); %d so far",
                self._rows,
                self._bytes,
                len(dropped),
                ",".join(sorted(set(dropped))),
                self.thinned,
            )
        if not self._exhausted:
            self._exhausted = True  # set first: the report below is queued through here
            log.error("OCPP queue full: %d rows, %d bytes", self._rows, self._bytes)
            self.push(
                "SecurityEventNotification",
                {
                    "type": "MemoryExhaustion",
                    "timestamp": iso(self._clock.wall()),
                    "techInfo": (
                        f"message queue over its cap ({settings.max_rows} rows /"
                        f" {settings.max_bytes} bytes): periodic meter values thinned out,"
                        f" {self.thinned} dropped"
                    )[:255],
                },
            )

    def __len__(self) -> int:
        return self._rows + len(self._volatile)

    @property
    def persisted_rows(self) -> int:
        return self._rows

    @property
    def persisted_bytes(self) -> int:
        return self._bytes

    def pending_actions(self) -> list[str]:
        return [m.action for m in self._store.queue_all()] + [v.action for v in self._volatile]

    # -- the sender -------------------------------------------------------------------

    async def _head(self) -> QueuedMessage | _Volatile | None:
        persisted = await self._store.in_thread(self._store.queue_head)
        vol = self._volatile[0] if self._volatile else None
        if vol is not None and (persisted is None or vol.after_seq < persisted.seq):
            return vol
        return persisted

    async def _remove(self, item: QueuedMessage | _Volatile) -> None:
        if isinstance(item, _Volatile):
            if self._volatile and self._volatile[0] is item:
                self._volatile.popleft()
        else:
            # fsync'd on the DB thread. Shielded: a connection lost meanwhile cancels us,
            # not the delete, and the counters follow what really happened.
            delete = asyncio.ensure_future(
                self._store.in_thread(self._store.queue_delete, item.seq)
            )
            delete.add_done_callback(lambda done: self._deleted(done, item.size))
            await asyncio.shield(delete)

    def _deleted(self, done: asyncio.Future[bool], size: int) -> None:
        if not done.cancelled() and done.exception() is None and done.result():
            self._rows -= 1
            self._bytes -= size

    async def run(self, caller: Caller) -> None:
        """Deliver in order until the connection drops (ConnectionLost propagates and
        the message in flight stays queued, to be sent again with the same id)."""
        while True:
            # Cleared before the head is read (on the DB thread): a message queued while
            # the read runs sets it again, so no wake-up is lost.
            self._wake.clear()
            item = await self._head()
            if item is None:
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
                await self._remove(item)
                continue
            await self._remove(item)
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
            await self._remove(item)
            return
        if isinstance(item, _Volatile):
            item.attempts = attempts
        else:
            await self._store.in_thread(self._store.queue_set_attempts, item.seq, attempts)
        log.warning("%s %s failed (%s), attempt %d", item.action, item.message_id, exc, attempts)
        await self._clock.sleep(settings.attempt_interval * attempts)
