"""The evse database's schema and row types: MIGRATIONS (append-only, counted by PRAGMA
user_version), the rows the store hands out, and how a connection is opened (WAL,
synchronous=FULL). The queries live in `evse/store.py`."""

from __future__ import annotations

import json
import sqlite3
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
    # 2: queue statistics from indexes, and the rows the cap may thin out (periodic
    # TransactionEvent Updated meter values, non-transaction messages), marked at insert.
    """
    ALTER TABLE ocpp_queue ADD COLUMN droppable INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE ocpp_queue ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
    UPDATE ocpp_queue SET size = LENGTH(CAST(payload AS BLOB));
    CREATE INDEX ocpp_queue_tx ON ocpp_queue(transaction_id);
    CREATE INDEX ocpp_queue_kind ON ocpp_queue(kind);
    CREATE INDEX ocpp_queue_droppable ON ocpp_queue(droppable, seq);
    UPDATE ocpp_queue SET droppable = 1 WHERE kind = 'normal' OR (
        action = 'TransactionEvent'
        AND json_extract(payload, '$.eventType') = 'Updated'
        AND json_extract(payload, '$.triggerReason') IN ('MeterValuePeriodic', 'MeterValueClock')
    );
    """,
)

# TransactionEvent Updated that only carry meter values: what the cap may thin out.
THINNABLE_TRIGGERS = frozenset({"MeterValuePeriodic", "MeterValueClock"})


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    seq: int
    message_id: str
    action: str
    payload: dict[str, Any]
    kind: str
    transaction_id: str | None
    attempts: int
    size: int = 0  # bytes of the stored payload


@dataclass(frozen=True, slots=True)
class QueueStats:
    rows: int
    bytes: int


@dataclass(frozen=True, slots=True)
class TransactionRow:
    transaction_id: str
    evse_id: int
    connector_id: int
    next_seq_no: int
    ended: bool
    data: dict[str, Any]


def row_to_msg(row: tuple[Any, ...]) -> QueuedMessage:
    return QueuedMessage(
        row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], len(row[3])
    )


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=30000")  # two connections: wait, never fail
    return db
