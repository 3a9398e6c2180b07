"""The evse SQLite database: OCPP queue, transactions, device model, authorization data.

WAL journal and synchronous=FULL: a committed row survives kill -9 and power loss.
Schema changes are append-only entries in MIGRATIONS (PRAGMA user_version counts them),
so a later block adds its own tables (DER controls, charging profiles) as one more
migration without touching these (`evse/store_schema.py`). Calls are synchronous; the
ones that can take long run on the store's DB thread through `in_thread`. Every write
that must be atomic with another (a TransactionEvent and its seqNo) is one SQL
transaction.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from evse.store_schema import (
    MIGRATIONS,
    THINNABLE_TRIGGERS,
    QueuedMessage,
    QueueStats,
    TransactionRow,
    connect,
    row_to_msg,
)

__all__ = ["MIGRATIONS", "QueueStats", "QueuedMessage", "Store", "TransactionRow"]

T = TypeVar("T")


class Store:
    """One connection per thread: the event loop's, and that of the store's own DB
    thread (`in_thread`), which runs the work that can take long (fsync'd deletes of
    the queue sender) so it never blocks the loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._owner = threading.get_ident()
        self._main = connect(path)
        self._worker: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evse-db")
        self.last_append_bytes = 0
        self._migrate()

    @property
    def _db(self) -> sqlite3.Connection:
        if threading.get_ident() == self._owner:
            return self._main
        if self._worker is None:  # only ever the DB thread gets here
            self._worker = connect(self.path)
        return self._worker

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` (a Store method) on the DB thread and wait for it."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number}")

    def close(self) -> None:
        def close_worker() -> None:
            if self._worker is not None:
                self._worker.close()
                self._worker = None

        self._pool.submit(close_worker).result()
        self._pool.shutdown(wait=True)
        self._main.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        if self._db.in_transaction:  # nested: a savepoint, so the outer one stays atomic
            self._db.execute("SAVEPOINT nested")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK TO nested")
                self._db.execute("RELEASE nested")
                raise
            self._db.execute("RELEASE nested")
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- meta -------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- OCPP queue -------------------------------------------------------------------

    def queue_append(
        self, message_id: str, action: str, payload: dict[str, Any], kind: str = "normal"
    ) -> tuple[int, int]:
        """Append one message; returns (seq, stored bytes)."""
        text = json.dumps(payload, separators=(",", ":"))
        cur = self._db.execute(
            "INSERT INTO ocpp_queue(message_id, action, payload, kind, droppable, size)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (message_id, action, text, kind, int(kind == "normal"), len(text)),
        )
        return int(cur.lastrowid or 0), len(text)

    def queue_append_tx_event(
        self,
        transaction_id: str,
        message_id: str,
        build: Callable[[int], dict[str, Any]],
        ends: bool = False,
        create: tuple[int, int] | None = None,
        data: dict[str, Any] | None = None,
    ) -> tuple[int, int]:
        """Append a TransactionEvent with the next seqNo of its transaction, atomically:
        after a crash either the message, the counter (and the new transaction row with
        `create` = (evse, connector), and its `data`) all moved or none did."""
        with self.transaction() as db:
            if create is not None:
                db.execute(
                    "INSERT INTO transactions(transaction_id, evse_id, connector_id)"
                    " VALUES (?, ?, ?)",
                    (transaction_id, create[0], create[1]),
                )
            if data is not None:
                db.execute(
                    "UPDATE transactions SET data=? WHERE transaction_id=?",
                    (json.dumps(data), transaction_id),
                )
            row = db.execute(
                "SELECT next_seq_no FROM transactions WHERE transaction_id=?", (transaction_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"unknown transaction {transaction_id!r}")
            seq_no = int(row[0])
            payload = build(seq_no)
            text = json.dumps(payload, separators=(",", ":"))
            thinnable = (
                payload.get("eventType") == "Updated"
                and payload.get("triggerReason") in THINNABLE_TRIGGERS
            )
            cur = db.execute(
                "INSERT INTO ocpp_queue(message_id, action, payload, kind, transaction_id,"
                " droppable, size) VALUES (?, 'TransactionEvent', ?, 'transaction', ?, ?, ?)",
                (message_id, text, transaction_id, int(thinnable), len(text)),
            )
            db.execute(
                "UPDATE transactions SET next_seq_no=?, ended=ended OR ? WHERE transaction_id=?",
                (seq_no + 1, int(ends), transaction_id),
            )
        self.last_append_bytes = len(text)
        return int(cur.lastrowid or 0), seq_no

    def queue_head(self, after: int = 0) -> QueuedMessage | None:
        row = self._db.execute(
            "SELECT seq, message_id, action, payload, kind, transaction_id, attempts"
            " FROM ocpp_queue WHERE seq > ? ORDER BY seq LIMIT 1",
            (after,),
        ).fetchone()
        return None if row is None else row_to_msg(row)

    def queue_all(self) -> list[QueuedMessage]:
        rows = self._db.execute(
            "SELECT seq, message_id, action, payload, kind, transaction_id, attempts"
            " FROM ocpp_queue ORDER BY seq"
        ).fetchall()
        return [row_to_msg(r) for r in rows]

    def queue_len(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM ocpp_queue").fetchone()[0])

    def queue_stats(self) -> QueueStats:
        """Rows and payload bytes queued: one scan, for start-up (then counters)."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM ocpp_queue"
        ).fetchone()
        return QueueStats(int(row[0]), int(row[1]))

    def queue_has_transaction_messages(self) -> bool:
        """Is any TransactionEvent queued? (index ocpp_queue_tx, E14)"""
        row = self._db.execute(
            "SELECT EXISTS(SELECT 1 FROM ocpp_queue WHERE transaction_id IS NOT NULL)"
        ).fetchone()
        return bool(row[0])

    def queue_has_transaction(self, transaction_id: str) -> bool:
        """Is any message of this transaction queued? (index ocpp_queue_tx, E14)"""
        row = self._db.execute(
            "SELECT EXISTS(SELECT 1 FROM ocpp_queue WHERE transaction_id=?)", (transaction_id,)
        ).fetchone()
        return bool(row[0])

    def queue_thin(self, batch: int) -> tuple[int, int, list[str]]:
        """Drop every other of the oldest `2 * batch` thinnable rows (periodic meter
        values, non-transaction messages), never the head row that may be in flight.
        Returns (rows, bytes, actions) dropped. Bounded work: one short transaction."""
        with self.transaction() as db:
            head = db.execute("SELECT MIN(seq) FROM ocpp_queue").fetchone()[0]
            rows = db.execute(
                "SELECT seq, size, action FROM ocpp_queue"
                " WHERE droppable=1 AND seq>? ORDER BY seq LIMIT ?",
                (head or 0, 2 * batch),
            ).fetchall()
            victims = rows[1::2] if len(rows) > 1 else rows
            db.executemany("DELETE FROM ocpp_queue WHERE seq=?", [(r[0],) for r in victims])
        return len(victims), sum(int(r[1]) for r in victims), [str(r[2]) for r in victims]

    def queue_last_seq(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='ocpp_queue'")
        found = row.fetchone()
        return 0 if found is None else int(found[0])

    def queue_delete(self, seq: int) -> bool:
        """Delete a delivered message; False when it was not there (thinned meanwhile)."""
        with self.transaction() as db:
            row = db.execute("SELECT transaction_id FROM ocpp_queue WHERE seq=?", (seq,)).fetchone()
            db.execute("DELETE FROM ocpp_queue WHERE seq=?", (seq,))
            if row is not None and row[0] is not None:
                # An ended transaction is forgotten once its last message is delivered.
                db.execute(
                    "DELETE FROM transactions WHERE transaction_id=? AND ended=1 AND NOT EXISTS"
                    " (SELECT 1 FROM ocpp_queue WHERE transaction_id=?)",
                    (row[0], row[0]),
                )
        return row is not None

    def queue_set_attempts(self, seq: int, attempts: int) -> None:
        self._db.execute("UPDATE ocpp_queue SET attempts=? WHERE seq=?", (attempts, seq))

    def queue_drop_normal(self) -> int:
        return self._db.execute("DELETE FROM ocpp_queue WHERE kind='normal'").rowcount

    # -- transactions -----------------------------------------------------------------

    def tx_create(
        self, transaction_id: str, evse_id: int, connector_id: int, data: dict[str, Any]
    ) -> None:
        self._db.execute(
            "INSERT INTO transactions(transaction_id, evse_id, connector_id, data)"
            " VALUES (?, ?, ?, ?)",
            (transaction_id, evse_id, connector_id, json.dumps(data)),
        )

    def tx_set_data(self, transaction_id: str, data: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE transactions SET data=? WHERE transaction_id=?",
            (json.dumps(data), transaction_id),
        )

    def tx_get(self, transaction_id: str) -> TransactionRow | None:
        rows = [t for t in self.tx_all() if t.transaction_id == transaction_id]
        return rows[0] if rows else None

    def tx_all(self) -> list[TransactionRow]:
        rows = self._db.execute(
            "SELECT transaction_id, evse_id, connector_id, next_seq_no, ended, data"
            " FROM transactions ORDER BY rowid"
        ).fetchall()
        return [
            TransactionRow(r[0], int(r[1]), int(r[2]), int(r[3]), bool(r[4]), json.loads(r[5]))
            for r in rows
        ]

    # -- device model -----------------------------------------------------------------

    def dm_all(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM device_model")}

    def dm_set(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO device_model(key, value) VALUES (?, ?)", (key, value)
        )

    def dm_delete(self, key: str) -> None:
        self._db.execute("DELETE FROM device_model WHERE key=?", (key,))

    # -- local authorization list and cache -------------------------------------------

    def local_list_get(self, token_key: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT info FROM local_auth_list WHERE token_key=?", (token_key,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def local_list_apply(
        self,
        version: int,
        full: bool,
        upserts: dict[str, dict[str, Any]],
        deletes: list[str],
    ) -> None:
        with self.transaction() as db:
            if full:
                db.execute("DELETE FROM local_auth_list")
            for key in deletes:
                db.execute("DELETE FROM local_auth_list WHERE token_key=?", (key,))
            for key, info in upserts.items():
                db.execute(
                    "INSERT OR REPLACE INTO local_auth_list(token_key, info) VALUES (?, ?)",
                    (key, json.dumps(info)),
                )
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('local_list_version', ?)",
                (str(version),),
            )

    def local_list_len(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM local_auth_list").fetchone()[0])

    def cache_get(self, token_key: str) -> tuple[dict[str, Any], float] | None:
        row = self._db.execute(
            "SELECT info, last_used FROM auth_cache WHERE token_key=?", (token_key,)
        ).fetchone()
        return None if row is None else (dict(json.loads(row[0])), float(row[1]))

    def cache_put(self, token_key: str, info: dict[str, Any], now: float, limit: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO auth_cache(token_key, info, last_used) VALUES (?, ?, ?)",
                (token_key, json.dumps(info), now),
            )
            # Least recently used entries go first when the cache is full (C11).
            db.execute(
                "DELETE FROM auth_cache WHERE token_key IN (SELECT token_key FROM auth_cache"
                " ORDER BY last_used DESC LIMIT -1 OFFSET ?)",
                (limit,),
            )

    def cache_touch(self, token_key: str, now: float) -> None:
        self._db.execute("UPDATE auth_cache SET last_used=? WHERE token_key=?", (now, token_key))

    def cache_delete(self, token_key: str) -> None:
        self._db.execute("DELETE FROM auth_cache WHERE token_key=?", (token_key,))

    def cache_clear(self) -> None:
        self._db.execute("DELETE FROM auth_cache")
