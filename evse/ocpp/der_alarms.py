"""R05 NotifyDERAlarm, exactly once across evse restarts and hal reconnects.

Each alarm hal raises becomes a NotifyDERAlarm stamped with hal's time of the event,
queued persistently (the queue keeps it until the CSMS has it, in order). The alarms
reported and not yet ended are kept in SQLite (`der_alarms_reported`), written in the
same transaction as the queued message: a kill -9 neither loses one nor sends it twice.
On every (re)connect hal's welcome lists the alarms in force; those not reported yet
(raised while evse was down) are sent then, with the time they started, and reported
ones no longer in force are ended (an end hal reported while evse was down)."""

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

    def alarm(self, event: DerAlarm) -> None:
        """One alarm edge from hal (R05); an edge already reported is not sent again."""
        if event.control_type not in self._types:
            log.error("DER alarm for unknown control type %r not sent", event.control_type)
            return
        key = (event.evse_id, event.control_type)
        since = iso(event.timestamp)
        msg = payload(
            event.control_type, event.grid_event_fault, event.ended, event.timestamp,
            event.extra_info,
        )  # fmt: skip
        try:
            with self._store.transaction() as db:
                row = db.execute(
                    "SELECT since FROM der_alarms_reported WHERE evse_id=? AND control_type=?",
                    key,
                ).fetchone()
                if event.ended:
                    db.execute(
                        "DELETE FROM der_alarms_reported WHERE evse_id=? AND control_type=?", key
                    )
                elif row is not None and row[0] == since:
                    return  # reported already (from hal's welcome)
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO der_alarms_reported VALUES (?, ?, ?, ?)",
                        (*key, since, event.grid_event_fault),
                    )
                self._push("NotifyDERAlarm", msg)
        except sqlite3.ProgrammingError:
            # This OCPP side has stopped (its store is closed) and a new one is not up
            # yet: the caller is hal's message path, which must not fail for it. The
            # next OCPP side reports the alarms still in force (hal's welcome).
            log.error("DER alarm not queued, the OCPP side is restarting: %s", msg)

    def sync(self, in_force: DerAlarmsInForce) -> None:
        """hal's alarms in force on one EVSE, whole: end the reported ones that are gone,
        then report the new ones in the order they started."""
        now = self._wall()
        current = {a.control_type: a for a in in_force.alarms if a.control_type in self._types}
        with self._store.transaction() as db:
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
