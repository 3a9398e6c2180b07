"""Charging profiles in SQLite: one row per installed profile, restored at start.

Own table on the store's database (created if missing, outside the numbered
migrations); every write is one committed transaction (WAL, synchronous FULL), so an
accepted SetChargingProfile survives kill -9.
"""

from __future__ import annotations

import json

from evse.energy.composite import InstalledProfile
from evse.store import Store

SCHEMA = """CREATE TABLE IF NOT EXISTS charging_profiles (
    id INTEGER PRIMARY KEY,
    evse_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    profile TEXT NOT NULL,
    invalid INTEGER NOT NULL DEFAULT 0
)"""


class ProfileStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        with store.transaction() as db:
            db.execute(SCHEMA)

    def load(self) -> list[InstalledProfile]:
        with self._store.transaction() as db:
            rows = db.execute(
                "SELECT evse_id, source, profile, invalid FROM charging_profiles ORDER BY id"
            ).fetchall()
        return [
            InstalledProfile(int(e), json.loads(p), str(s), bool(bad)) for e, s, p, bad in rows
        ]

    def put(self, ip: InstalledProfile) -> None:
        """Insert or replace (K01.FR.05: a profile with the same id replaces the old)."""
        with self._store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO charging_profiles(id, evse_id, source, profile, invalid) "
                "VALUES (?, ?, ?, ?, ?)",
                (ip.id, ip.evse_id, ip.source, json.dumps(dict(ip.profile)), int(ip.invalid)),
            )

    def delete(self, ids: list[int]) -> None:
        with self._store.transaction() as db:
            db.executemany("DELETE FROM charging_profiles WHERE id=?", [(i,) for i in ids])
