"""R04 / R05 on the station: Set / Get / Clear / ReportDERControl, NotifyDERStartStop,
NotifyDERAlarm (der_alarms.py), the controls kept in SQLite (own table, TC_R_100: a
kill -9 or a reboot loses none) and the set in force handed to hal whole
(`DerDirectives`) whenever it changes. The rules themselves are pure, in der_rules.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from evse.ocpp import der_rules as rules
from evse.ocpp.clock import Clock, iso, wait_for
from evse.ocpp.der_alarms import DerAlarms
from evse.ocpp.der_device_model import UnitRating, apply_ratings
from evse.ocpp.device_model import DeviceModel
from evse.ocpp.endpoint import Reply
from evse.ocpp.interfaces import DerAlarm, DerAlarmsInForce
from evse.store import Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]
Push = Callable[[str, Payload], None]

REPORT_CHUNK = 16  # controls per ReportDERControl (R04.FR.31/32: more follow with tbc)
MAX_SLEEP_S = 60.0  # re-read the wall clock at least this often (it may be set meanwhile)
# ReportDERControl: field -> (the Get type's key for the control, carries isDefault/isSuperseded)
_REPORT_KEY = {
    "curve": ("curve", True),
    "enterService": ("enterService", False),
    "gradient": ("gradient", False),
    "fixedPFAbsorb": ("fixedPF", True),
    "fixedPFInject": ("fixedPF", True),
    "fixedVar": ("fixedVar", True),
    "freqDroop": ("freqDroop", True),
    "limitMaxDischarge": ("limitMaxDischarge", True),
}
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS der_controls ("
    " control_id TEXT PRIMARY KEY, data TEXT NOT NULL)"
)


@runtime_checkable
class DerSink(Protocol):
    """Where the set in force goes (the controller's link to hal)."""

    def set_der_directives(self, directives: list[Payload]) -> None: ...


class DerControls:
    def __init__(
        self,
        dm: DeviceModel,
        store: Store,
        clock: Clock,
        push: Push,
        sink: object,
        units: tuple[UnitRating, ...] = (),
    ) -> None:
        self._dm, self._store, self._clock, self._push = dm, store, clock, push
        apply_ratings(dm, units)  # R01/R02: DCDERCtrlr / ACDERCtrlr nameplate
        self._sink = sink if isinstance(sink, DerSink) else None
        # The grid's nominal frequency bounds frequency curves (hal.der_rules); the port
        # knows it from the station config, a port without hal assumes 50 Hz.
        self._nominal_hz = float(getattr(sink, "nominal_frequency_hz", 50.0))
        with store.transaction() as db:  # own table, not a migration (issue 11 split)
            db.execute(_SCHEMA)
            rows = db.execute("SELECT control_id, data FROM der_controls").fetchall()
        self.records: dict[str, rules.DerRecord] = {}
        for cid, data in rows:
            try:
                self.records[str(cid)] = rules.DerRecord.from_json(json.loads(data))
            except (ValueError, TypeError, KeyError) as exc:
                log.error("stored DER control %s unreadable, dropped: %s", cid, exc)
        self._sent: list[Payload] | None = None
        self.alarms = DerAlarms(store, push, clock.wall, frozenset(rules.FIELD_FOR))
        self._wake = asyncio.Event()

    # -- state ------------------------------------------------------------------------

    def supported(self) -> set[str]:
        """R04.FR.01: what any EVSE's enabled DCDERCtrlr / ACDERCtrlr lists."""
        modes: set[str] = set()
        for slot in self._dm.slots():
            if slot.spec.component in ("DCDERCtrlr", "ACDERCtrlr") and (
                slot.spec.variable == "ModesSupported"
            ):
                enabled = self._dm.find(slot.spec.component, "Enabled", slot.evse_id)
                if enabled is None or self._dm.value(enabled) == "true":
                    modes.update(v for v in (self._dm.value(slot) or "").split(",") if v)
        return modes

    def directives(self) -> list[Payload]:
        """The set in force now: what hal must execute."""
        return rules.in_force(self.records, self._clock.wall())

    def _save(self, ids: list[str]) -> None:
        with self._store.transaction() as db:
            for cid in dict.fromkeys(ids):
                rec = self.records.get(cid)
                if rec is None or rec.ended:
                    db.execute("DELETE FROM der_controls WHERE control_id=?", (cid,))
                    self.records.pop(cid, None)
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO der_controls(control_id, data) VALUES (?, ?)",
                        (cid, json.dumps(rec.to_json())),
                    )

    def _update(self) -> None:
        """Queue start / stop notifications that are due, persist, and hand hal the set
        in force when it changed."""
        notes, changed = rules.transitions(self.records, self._clock.wall())
        # R04.FR.20-22: the notifications and the records' started / ended flags in one
        # transaction: a kill -9 neither loses a NotifyDERStartStop nor sends it twice.
        with self._store.transaction():
            for note in notes:
                self._push("NotifyDERStartStop", note)
            if changed:
                self._save(changed)
        now_set = self.directives()
        if now_set != self._sent and self._sink is not None:
            self._sink.set_der_directives(now_set)
            self._sent = now_set

    async def run(self) -> None:
        """R04.FR.20-22: start and expire scheduled controls on time."""
        self._sent = None  # hal gets the set once at start, whatever it holds
        while True:
            self._wake.clear()
            self._update()
            due = rules.next_due(self.records)
            delay = MAX_SLEEP_S
            if due is not None:
                delay = min(delay, (due - self._clock.wall()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await wait_for(self._clock, self._wake.wait(), max(delay, 0.0))

    # -- CSMS requests ----------------------------------------------------------------

    async def on_set(self, req: Payload) -> Payload:
        try:
            rules.check(req, self.supported(), self._nominal_hz)
        except rules.DerRejected as exc:
            log.warning("SetDERControl %s: %s %s", req.get("controlId"), exc.status, exc.reason)
            info = {"reasonCode": exc.reason_code, "additionalInfo": exc.reason[:1024]}
            return {"status": exc.status, "statusInfo": info}
        now = self._clock.wall()
        request = {k: v for k, v in req.items() if k != "customData"}
        new = rules.DerRecord(request, iso(now))
        before = {cid: r.superseded for cid, r in self.records.items()}
        superseded = rules.add(self.records, new, now)
        changed = [cid for cid, r in self.records.items() if before.get(cid) != r.superseded]
        self._save([new.control_id, *changed])
        self._update()
        self._wake.set()  # the next start / expiry may be sooner now
        res: Payload = {"status": "Accepted"}
        if superseded:
            res["supersededIds"] = superseded
        return res

    def _matching(self, req: Payload) -> list[rules.DerRecord]:
        return [
            r
            for r in self.records.values()
            if not r.ended
            and ("isDefault" not in req or r.is_default == req["isDefault"])
            and ("controlType" not in req or r.control_type == req["controlType"])
            and ("controlId" not in req or r.control_id == req["controlId"])
        ]

    async def on_get(self, req: Payload) -> Payload | Reply:
        found = sorted(self._matching(req), key=lambda r: (r.control_type, r.control_id))
        if not found:
            return {"status": "NotFound"}  # R04.FR.30
        request_id = int(req["requestId"])

        async def then() -> None:
            for payload in report_payloads(request_id, found):
                self._push("ReportDERControl", payload)

        return Reply({"status": "Accepted"}, then)

    async def on_clear(self, req: Payload) -> Payload:
        """R04.FR.41-46: by id, by type, or all (of the isDefault given)."""
        gone = self._matching(req)
        if not gone:
            return {"status": "NotFound"}
        for r in gone:
            r.ended = True  # _save deletes it
        self._save([r.control_id for r in gone])
        self._update()
        return {"status": "Accepted"}

    # -- R05 (der_alarms.py) -------------------------------------------------------------

    def alarm(self, event: DerAlarm | DerAlarmsInForce) -> None:
        """An alarm edge, or hal's alarms in force on one EVSE (after a connect)."""
        if isinstance(event, DerAlarm):
            self.alarms.alarm(event)
        else:
            self.alarms.sync(event)


def report_payloads(request_id: int, found: list[rules.DerRecord]) -> list[Payload]:
    """ReportDERControl messages, REPORT_CHUNK controls each, tbc on all but the last."""
    out: list[Payload] = []
    for i in range(0, len(found), REPORT_CHUNK):
        payload: Payload = {"requestId": request_id}
        for r in found[i : i + REPORT_CHUNK]:
            fld = rules.FIELD_FOR[r.control_type]
            key, flags = _REPORT_KEY[fld]
            body = {k: v for k, v in r.body.items() if k != "customData"}
            item: Payload = {"id": r.control_id, key: body}
            if fld == "curve":
                item["curveType"] = r.control_type
            if flags:
                item["isDefault"] = r.is_default
                item["isSuperseded"] = r.superseded
            payload.setdefault(fld, []).append(item)
        if i + REPORT_CHUNK < len(found):
            payload["tbc"] = True
        out.append(payload)
    return out
