"""The evse SQLite database: OCPP queue, transactions, device model, authorization data.

WAL journal and synchronous=FULL: a committed row survives kill -9 and power loss.
Schema changes are append-only entries in MIGRATIONS (PRAGMA user_version counts them),
so a later block adds its own tables (DER controls, charging profiles) as one more
migration without touching these. All calls are short and synchronous; every write that
must be atomic with another (a TransactionEvent and its seqNo) is one SQL transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIGRATIONS: tuple[str, ...] = (
    # 1: OCPP core
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE ocpp_queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL UNIQUE,
        action TEXT NOT NULL,
        payload TEXT NOT NULL,
        kind TEXT NOT NULL,            -- 'transaction' | 'normal'
        transaction_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE transactions (
        transaction_id TEXT PRIMARY KEY,
        evse_id INTEGER NOT NULL,
        connector_id INTEGER NOT NULL,
        next_seq_no INTEGER NOT NULL DEFAULT 0,
        ended INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE device_model (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE local_auth_list (token_key TEXT PRIMARY KEY, info TEXT NOT NULL);
    CREATE TABLE auth_cache (
        token_key TEXT PRIMARY KEY,
        info TEXT NOT NULL,
        last_used REAL NOT NULL
    );
    """,
)


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    seq: int
    message_id: str
    action: str
    payload: dict[str, Any]
    kind: str
    transaction_id: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class TransactionRow:
    transaction_id: str
    evse_id: int
    connector_id: int
    next_seq_no: int
    ended: bool
    data: dict[str, Any]


def _row_to_msg(row: tuple[Any, ...]) -> QueuedMessage:
    return QueuedMessage(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6])


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
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
    ) -> int:
        cur = self._db.execute(
            "INSERT INTO ocpp_queue(message_id, action, payload, kind) VALUES (?, ?, ?, ?)",
            (message_id, action, json.dumps(payload, separators=(",", ":")), kind),
        )
        return int(cur.lastrowid or 0)

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
            cur = db.execute(
                "INSERT INTO ocpp_queue(message_id, action, payload, kind, transaction_id)"
                " VALUES (?, 'TransactionEvent', ?, 'transaction', ?)",
                (message_id, json.dumps(payload, separators=(",", ":")), transaction_id),
            )
            db.execute(
                "UPDATE transactions SET next_seq_no=?, ended=ended OR ? WHERE transaction_id=?",
                (seq_no + 1, int(ends), transaction_id),
            )
        return int(cur.lastrowid or 0), seq_no

    def queue_head(self, after: int = 0) -> QueuedMessage | None:
        row = self._db.execute(
            "SELECT seq, message_id, action, payload, kind, transaction_id, attempts"
            " FROM ocpp_queue WHERE seq > ? ORDER BY seq LIMIT 1",
            (after,),
        ).fetchone()
        return None if row is None else _row_to_msg(row)

    def queue_all(self) -> list[QueuedMessage]:
        rows = self._db.execute(
            "SELECT seq, message_id, action, payload, kind, transaction_id, attempts"
            " FROM ocpp_queue ORDER BY seq"
        ).fetchall()
        return [_row_to_msg(r) for r in rows]

    def queue_len(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM ocpp_queue").fetchone()[0])

    def queue_last_seq(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='ocpp_queue'")
        found = row.fetchone()
        return 0 if found is None else int(found[0])

    def queue_delete(self, seq: int) -> None:
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
