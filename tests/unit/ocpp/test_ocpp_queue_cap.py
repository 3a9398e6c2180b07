"""The persisted OCPP queue under load (issue 10): statistics without loading the queue,
the sender's SQLite work off the event loop, and a cap by rows and bytes that thins out
periodic meter values but never drops Started, Ended or DER alarms. SQLite on disk."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from evse.ocpp.authorization import Authorization
from evse.ocpp.clock import RealClock
from evse.ocpp.device_model import DeviceModel
from evse.ocpp.endpoint import ConnectionLost
from evse.ocpp.queue import MessageQueue, QueueSettings
from evse.ocpp.remote_control import RemoteControl
from evse.ocpp.transactions import Transactions
from evse.store import Store
from tests.integration.ocpp.ocpp_support import StationSide


def main_connection(store: Store) -> sqlite3.Connection:
    # The event loop's connection (named `_db` before it had a DB thread beside it).
    conn = getattr(store, "_main", None)
    return conn if isinstance(conn, sqlite3.Connection) else store._db


def tx_event(event: str, trigger: str) -> Any:
    def build(seq_no: int) -> dict[str, Any]:
        return {
            "eventType": event,
            "timestamp": "2026-01-01T00:00:00.000Z",
            "triggerReason": trigger,
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": "T1"},
            "meterValue": [{"timestamp": "2026-01-01T00:00:00.000Z",
                            "sampledValue": [{"value": 1234.5}]}],
        }

    return build


async def fill(queue: MessageQueue, updates: int) -> None:
    queue.push_transaction_event("T1", tx_event("Started", "Authorized"), create=(1, 1))
    for i in range(updates):
        queue.push_transaction_event("T1", tx_event("Updated", "MeterValuePeriodic"))
        if i % 50 == 0:
            queue.push_transaction_event("T1", tx_event("Updated", "ChargingStateChanged"))
            queue.push("NotifyDERAlarm", {"controlType": "FreqDroop", "timestamp": "x"})
    queue.push_transaction_event("T1", tx_event("Ended", "EVCommunicationLost"), ends=True)


def rows(store: Store) -> list[tuple[str, str]]:
    out = []
    for m in store.queue_all():
        what = m.payload.get("eventType") or m.payload.get("type") or ""
        out.append((m.action, f"{what}/{m.payload.get('triggerReason', '')}"))
    return out


def test_e04_cap_by_rows_thins_periodic_meter_values_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "q.db")
    settings = QueueSettings(max_rows=300, max_bytes=1 << 30)

    async def scenario() -> MessageQueue:
        queue = MessageQueue(store, RealClock(), lambda: settings)
        await fill(queue, 2000)
        return queue

    queue = asyncio.run(scenario())
    kept = rows(store)
    assert len(kept) <= 300 + 5  # the cap, give or take the report itself
    assert kept[0] == ("TransactionEvent", "Started/Authorized")
    assert kept[-1] == ("TransactionEvent", "Ended/EVCommunicationLost")
    # Nothing but periodic meter values was dropped: 41 state changes, 40 DER alarms.
    assert kept.count(("TransactionEvent", "Updated/ChargingStateChanged")) == 40
    assert sum(1 for a, _ in kept if a == "NotifyDERAlarm") == 40
    reports = [r for r in kept if r[0] == "SecurityEventNotification"]
    assert reports == [("SecurityEventNotification", "MemoryExhaustion/")]  # once
    assert queue.thinned == 2000 - sum(1 for r in kept if "MeterValuePeriodic" in r[1])
    # The counters agree with the table.
    stats = store.queue_stats()
    assert (queue.persisted_rows, queue.persisted_bytes) == (stats.rows, stats.bytes)
    store.close()


def test_e04_cap_by_bytes(tmp_path: Path) -> None:
    store = Store(tmp_path / "q.db")
    settings = QueueSettings(max_rows=1_000_000, max_bytes=64 * 1024)

    async def scenario() -> MessageQueue:
        queue = MessageQueue(store, RealClock(), lambda: settings)
        await fill(queue, 3000)
        return queue

    queue = asyncio.run(scenario())
    assert queue.thinned > 0
    assert store.queue_stats().bytes <= 64 * 1024 + 1024
    kept = rows(store)
    assert kept[0][1] == "Started/Authorized" and kept[-1][1] == "Ended/EVCommunicationLost"
    store.close()


def test_e14_get_transaction_status_does_not_read_the_queue(tmp_path: Path) -> None:
    """Work of GetTransactionStatus counted in SQLite VM steps (not time): the same with
    200 and with 20,000 queued messages."""
    store = Store(tmp_path / "q.db")
    # Filling only: 20,000 fsyncs would dominate the test; what is counted is unchanged.
    main_connection(store).execute("PRAGMA synchronous=OFF")
    settings = QueueSettings()  # the default cap is above 20,000 rows

    async def steps_for(total: int) -> int:
        queue = MessageQueue(store, RealClock(), lambda: settings)
        if not store.tx_all():
            queue.push_transaction_event("T1", tx_event("Started", "Authorized"), create=(1, 1))
        while len(queue) < total:
            queue.push_transaction_event("T1", tx_event("Updated", "MeterValuePeriodic"))
        remote = remote_control(store, queue)
        count = [0]

        def tick() -> int:
            count[0] += 1
            return 0

        main_connection(store).set_progress_handler(tick, 100)
        answer = await remote.on_get_transaction_status({"transactionId": "nope"})
        assert answer == {"ongoingIndicator": False, "messagesInQueue": False}
        answer = await remote.on_get_transaction_status({})
        assert answer == {"messagesInQueue": True}
        main_connection(store).set_progress_handler(None, 100)
        return count[0]

    small = asyncio.run(steps_for(200))
    large = asyncio.run(steps_for(20_000))
    assert large <= small + 2, (small, large)
    store.close()


def remote_control(store: Store, queue: MessageQueue) -> RemoteControl:
    clock = RealClock()
    dm = DeviceModel(store)
    side = StationSide()

    async def offline_call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionLost("offline")

    async def no_heartbeat() -> None:
        return None

    auth = Authorization(dm, store, clock, lambda: False, offline_call)
    tx = Transactions(dm, store, queue, clock, side, lambda: False, 1)
    return RemoteControl(
        dm, store, clock, side, queue, auth, tx, {(1, 1): "Available"}, lambda: True,
        no_heartbeat,
    )


class _Csms:
    """Accepts every message at once (the sender's own logic is what is tested)."""

    def __init__(self) -> None:
        self.got: list[str] = []

    async def call(self, action: str, payload: Any, message_id: str | None = None) -> Any:
        self.got.append(action)
        return {}


def test_sender_sqlite_work_runs_off_the_event_loop(tmp_path: Path) -> None:
    store = Store(tmp_path / "q.db")
    on_loop: list[str] = []

    async def scenario() -> _Csms:
        queue = MessageQueue(store, RealClock(), QueueSettings)
        for _ in range(20):
            queue.push("SecurityEventNotification", {"type": "X", "timestamp": "y"})
        main_connection(store).set_trace_callback(on_loop.append)
        csms = _Csms()
        sender = asyncio.create_task(queue.run(csms))
        while len(queue):  # noqa: ASYNC110 - polls the counter the sender drives
            await asyncio.sleep(0.01)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        main_connection(store).set_trace_callback(None)
        return csms

    csms = asyncio.run(scenario())
    assert csms.got == ["SecurityEventNotification"] * 20
    assert store.queue_len() == 0
    # The reads of the head and the fsync'd deletes ran on the DB thread's connection.
    assert not [sql for sql in on_loop if "ocpp_queue" in sql], on_loop[:3]
    store.close()


class _SlowHeadStore(Store):
    """The real store, its head read slowed on the DB thread: a message queued while the
    sender reads the head must still wake the sender (no lost wake-up)."""

    reading = threading.Event()

    def queue_head(self, after: int = 0) -> Any:
        head = super().queue_head(after)
        self.reading.set()
        time.sleep(0.2)  # the answer is read, not yet back on the loop
        return head


def test_message_queued_while_the_head_is_read_is_still_sent(tmp_path: Path) -> None:
    store = _SlowHeadStore(tmp_path / "q.db")
    store.reading = threading.Event()

    async def scenario() -> _Csms:
        queue = MessageQueue(store, RealClock(), QueueSettings)
        csms = _Csms()
        sender = asyncio.create_task(queue.run(csms))
        await asyncio.to_thread(store.reading.wait, 20)  # the empty queue's head is read
        queue.push("SecurityEventNotification", {"type": "X", "timestamp": "y"})
        try:
            async with asyncio.timeout(20):
                while not csms.got:  # noqa: ASYNC110 - the fake CSMS has no event to await
                    await asyncio.sleep(0.01)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return csms

    assert asyncio.run(scenario()).got == ["SecurityEventNotification"]
    store.close()
