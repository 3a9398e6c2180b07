"""R05 NotifyDERAlarm, exactly once across evse restarts and hal reconnects.

Each alarm hal raises becomes a NotifyDERAlarm stamped with hal's time of the event,
queued persistently (the queue keeps it until the CSMS has it, in order). The alarms
reported and not yet ended are kept in SQLite (`der_alarms_reported`), written in the
same transaction as the queued message: a kill -9 neither loses one nor sends it twice.
hal numbers every edge and keeps a bounded history of them on disk (`seq`, growing,
never repeated); the number of the last edge queued is kept per EVSE (`der_alarm_seq`),
in the same transaction. On every (re)connect hal's welcome gives the history: the edges
not queued yet (an alarm that started and ended while evse was down) are queued first,
in order, with their own times. Then the alarms in force: those not reported yet are
sent with the time they started, and reported ones no longer in force are ended (an end
hal no longer knows of, e.g. after a hal restart, or an older hal without history)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from evse.ocpp.clock import iso
from evse.ocpp.interfaces import DerAlarm, DerAlarmsInForce
from evse.store import Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]
GRID_FAULTS = frozenset(
    {
        "CurrentImbalance",
        "LocalEmergency",
        "LowInputPower",
        "OverCurrent",
        "OverFrequency",
        "OverVoltage",
        "PhaseRotation",
        "RemoteEmergency",
        "UnderFrequency",
        "UnderVoltage",
        "VoltageImbalance",
    }
)
ENDED_UNSEEN = "ended while evse was not connected to hal"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS der_alarms_reported (evse_id INTEGER NOT NULL,"
    " control_type TEXT NOT NULL, since TEXT NOT NULL, fault TEXT NOT NULL,"
    " PRIMARY KEY (evse_id, control_type))"
)
# R05: per EVSE the number of hal's last alarm edge queued (hal/alarm_history.py).
_SEQ_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS der_alarm_seq (evse_id INTEGER PRIMARY KEY,"
    " last_seq INTEGER NOT NULL)"
)


def payload(control_type: str, fault: str, ended: bool, at: datetime, extra: str) -> Payload:
    out: Payload = {"controlType": control_type, "alarmEnded": ended, "timestamp": iso(at)}
    if fault in GRID_FAULTS:
        out["gridEventFault"] = fault
    if extra:
        out["extraInfo"] = extra[:200]
    return out


class DerAlarms:
    def __init__(
        self,
        store: Store,
        push: Callable[[str, Payload], None],
        wall: Callable[[], datetime],
        known_types: frozenset[str],
    ) -> None:
        self._store, self._push, self._wall, self._types = store, push, wall, known_types
        with store.transaction() as db:
            db.execute(_SCHEMA)
            db.execute(_SEQ_SCHEMA)

    def alarm(self, event: DerAlarm) -> None:
        """One alarm edge from hal (R05); an edge already queued is not sent again."""
        try:
            with self._store.transaction() as db:
                self._edge(db, event)
        except sqlite3.ProgrammingError:
            # This OCPP side has stopped (its store is closed) and a new one is not up
            # yet: the caller is hal's message path, which must not fail for it. The
            # next OCPP side gets hal's history and the alarms still in force.
            log.error("DER alarm not queued, the OCPP side is restarting: %s", event)

    def _edge(self, db: sqlite3.Connection, event: DerAlarm) -> None:
        """Queue one edge unless it was queued already: by hal's number (`seq`, kept in
        the same transaction as the queued message), else by its start time."""
        if event.control_type not in self._types:
            log.error("DER alarm for unknown control type %r not sent", event.control_type)
            return
        key = (event.evse_id, event.control_type)
        if event.seq is not None:
            last = _last_seq(db, event.evse_id)
            if last is not None and event.seq <= last:
                return  # queued already (live, or from an earlier welcome)
            db.execute("INSERT OR REPLACE INTO der_alarm_seq VALUES (?, ?)",
                       (event.evse_id, event.seq))  # fmt: skip
        since = iso(event.timestamp)
        msg = payload(
            event.control_type, event.grid_event_fault, event.ended, event.timestamp,
            event.extra_info,
        )  # fmt: skip
        row = db.execute(
            "SELECT since FROM der_alarms_reported WHERE evse_id=? AND control_type=?", key
        ).fetchone()
        if event.ended:
            db.execute("DELETE FROM der_alarms_reported WHERE evse_id=? AND control_type=?", key)
        elif row is not None and row[0] == since:
            return  # reported already (from hal's welcome)
        else:
            db.execute(
                "INSERT OR REPLACE INTO der_alarms_reported VALUES (?, ?, ?, ?)",
                (*key, since, event.grid_event_fault),
            )
        self._push("NotifyDERAlarm", msg)

    def sync(self, in_force: DerAlarmsInForce) -> None:
        """hal's alarms in force on one EVSE, whole: end the reported ones that are gone,
        then report the new ones in the order they started."""
        now = self._wall()
        current = {a.control_type: a for a in in_force.alarms if a.control_type in self._types}
        with self._store.transaction() as db:
            newest = max((a.seq for a in in_force.history if a.seq is not None), default=None)
            last = _last_seq(db, in_force.evse_id)
            if newest is not None and last is not None and newest < last:
                # hal's numbers went back (its state folder was replaced): start over.
                log.warning("hal's DER alarm history restarted: taking all of it")
                db.execute("DELETE FROM der_alarm_seq WHERE evse_id=?", (in_force.evse_id,))
            for edge in in_force.history:  # R05: edges missed while evse was down, in order
                self._edge(db, edge)
            rows = db.execute(
                "SELECT control_type, since, fault FROM der_alarms_reported WHERE evse_id=?",
                (in_force.evse_id,),
            ).fetchall()
            reported = {str(c): (str(s), str(f)) for c, s, f in rows}
            for ctype, (since, fault) in sorted(reported.items()):
                new = current.get(ctype)
                if new is not None and iso(new.timestamp) == since:
                    continue
                # Ended while evse was away: hal no longer knows when; at the latest when
                # a new alarm of the type started, else by now.
                end = new.timestamp if new is not None else now
                self._push("NotifyDERAlarm", payload(ctype, fault, True, end, ENDED_UNSEEN))
                db.execute(
                    "DELETE FROM der_alarms_reported WHERE evse_id=? AND control_type=?",
                    (in_force.evse_id, ctype),
                )
                reported.pop(ctype)
            for a in sorted(current.values(), key=lambda a: (a.timestamp, a.control_type)):
                if a.control_type in reported:
                    continue
                msg = payload(a.control_type, a.grid_event_fault, False, a.timestamp, "")
                self._push("NotifyDERAlarm", msg)
                db.execute(
                    "INSERT OR REPLACE INTO der_alarms_reported VALUES (?, ?, ?, ?)",
                    (in_force.evse_id, a.control_type, iso(a.timestamp), a.grid_event_fault),
                )
                log.warning("DER alarm raised while evse was down reported: %s", msg)


def _last_seq(db: sqlite3.Connection, evse_id: int) -> int | None:
    row = db.execute("SELECT last_seq FROM der_alarm_seq WHERE evse_id=?", (evse_id,)).fetchone()
    return None if row is None else int(row[0])
