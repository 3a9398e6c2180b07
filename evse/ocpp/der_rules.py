"""R04 DER controls, the pure part: validation, superseding, the set in force, and the
start / expiry transitions of scheduled controls. `now` (aware UTC) is always passed in.

Rules (OCPP 2.1 section R, as cited by open implementations):
- FR.01 NotSupported for a controlType the station does not list (DCDERCtrlr /
  ACDERCtrlr.ModesSupported); FR.13 defaults carry no startTime / duration; FR.15-17,
  FR.50-56 and every value range hal executes with: hal.der_parse, the contract's one
  validator (a control answered Accepted is one hal runs).
- Supersede within the same controlType and isDefault, lower priority value wins, a tie
  supersedes nothing: FR.03 a new default supersedes the old one at once; FR.06 a
  scheduled one not yet active is superseded at once (in supersededIds); FR.07 an active
  one when the new one starts (NotifyDERStartStop started=true with supersededIds);
  FR.08 a losing new control is stored superseded and the response echoes its own id.
- FR.20-22 NotifyDERStartStop when a scheduled control starts and when it expires.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from evse.ocpp.clock import iso
from hal import der_rules as hal_rules
from hal.der_parse import parse
from hal.der_rules import DerRuleError

Payload = dict[str, Any]

# The control tables and value rules are the contract's (hal/der_rules.py,
# hal/der_parse.py): hal executes with the same ones, so Accepted here means hal runs it.
FIELD_FOR = hal_rules.FIELD_FOR
CONTROL_FIELDS = hal_rules.CONTROL_FIELDS


class DerRejected(Exception):
    """A SetDERControl that cannot be accepted: `status` and the reason for statusInfo."""

    def __init__(self, status: str, reason: str, reason_code: str = "InvalidValue") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.reason_code = reason_code  # statusInfo.reasonCode (Part 2 appendix, generic)


def parse_time(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError("startTime without a time zone")
    return t


@dataclass
class DerRecord:
    """One stored control: the request as received plus its scheduling state."""

    request: Payload
    received: str  # iso time it arrived: a scheduled control without startTime starts then
    superseded: bool = False
    started: bool = False  # NotifyDERStartStop(started=true) queued
    ended: bool = False  # ... (started=false) queued: the record is deleted
    supersede_at_start: list[str] = field(default_factory=list)  # FR.07

    @property
    def control_id(self) -> str:
        return str(self.request["controlId"])

    @property
    def control_type(self) -> str:
        return str(self.request["controlType"])

    @property
    def is_default(self) -> bool:
        return bool(self.request["isDefault"])

    @property
    def body(self) -> Payload:
        body: Payload = self.request[FIELD_FOR[self.control_type]]
        return body

    @property
    def priority(self) -> int:
        return int(self.body["priority"])

    def start(self) -> datetime | None:
        if self.is_default:
            return None
        text = self.body.get("startTime")
        return parse_time(text) if text else parse_time(self.received)

    def end(self) -> datetime | None:
        start, duration = self.start(), self.body.get("duration")
        if start is None or duration is None:
            return None
        return start + timedelta(seconds=float(duration))

    def active(self, now: datetime) -> bool:
        """In force by its schedule (defaults always), superseded or not."""
        start, end = self.start(), self.end()
        return (start is None or start <= now) and (end is None or now < end)

    def to_json(self) -> Payload:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Payload) -> DerRecord:
        return cls(**data)


def check(req: Payload, supported: set[str], nominal_hz: float) -> None:
    """Raise DerRejected unless the SetDERControlRequest may be stored: the station's
    rules here (R04.FR.01, FR.13), every rule of what hal executes in hal.der_parse."""
    ctype = str(req["controlType"])
    if ctype not in supported:  # R04.FR.01
        reason = f"{ctype} is not in ModesSupported (R04.FR.01)"
        raise DerRejected("NotSupported", reason, "UnsupportedParam")
    try:  # R04.FR.15-17, FR.50-56, value ranges: the check hal runs on every directive
        parse(req, nominal_hz)
    except DerRuleError as exc:
        raise DerRejected("Rejected", str(exc), exc.reason_code) from exc
    body = req[FIELD_FOR[ctype]]
    if req["isDefault"] and ("startTime" in body or "duration" in body):
        raise DerRejected("Rejected", "a default control has no startTime or duration (R04.FR.13)")
    if "startTime" in body:
        try:
            parse_time(str(body["startTime"]))
        except ValueError as exc:
            raise DerRejected("Rejected", f"startTime: {exc}") from exc
    if body.get("duration") is not None and float(body["duration"]) <= 0:
        raise DerRejected("Rejected", "duration must be positive", "ValueOutOfRange")


def peers(records: dict[str, DerRecord], new: DerRecord, now: datetime) -> list[DerRecord]:
    """The stored controls `new` competes with: same type and isDefault, not superseded,
    not expired."""
    out = []
    for r in records.values():
        end = r.end()
        if (
            r.control_id != new.control_id
            and r.control_type == new.control_type
            and r.is_default == new.is_default
            and not r.superseded
            and not r.ended
            and (end is None or now < end)
        ):
            out.append(r)
    return out


def add(records: dict[str, DerRecord], new: DerRecord, now: datetime) -> list[str]:
    """Store `new` (replacing a control with its id), apply the supersede rules, and
    return the supersededIds of the response."""
    records.pop(new.control_id, None)
    others = peers(records, new, now)
    records[new.control_id] = new
    if any(r.priority < new.priority for r in others):
        new.superseded = True  # R04.FR.08: the response echoes its own id
        return [new.control_id]
    superseded: list[str] = []
    for r in others:
        if r.priority <= new.priority:
            continue  # a tie supersedes nothing
        if r.is_default or not r.active(now):
            r.superseded = True  # R04.FR.03 / FR.06: at once
            superseded.append(r.control_id)
        else:
            new.supersede_at_start.append(r.control_id)  # R04.FR.07: when new starts
    return superseded


def in_force(records: dict[str, DerRecord], now: datetime) -> list[Payload]:
    """One control per type: the active scheduled one with the lowest priority value
    (tie: the earliest received), else the default; OCPP SetDERControl-shaped."""
    best: dict[str, tuple[int, int, str, DerRecord]] = {}
    for r in records.values():
        if r.superseded or r.ended or not r.active(now):
            continue
        key = (int(r.is_default), r.priority, r.received, r)
        old = best.get(r.control_type)
        if old is None or key[:3] < old[:3]:
            best[r.control_type] = key
    return [best[t][3].request for t in sorted(best)]


def transitions(records: dict[str, DerRecord], now: datetime) -> tuple[list[Payload], list[str]]:
    """Scheduled controls that started or expired by `now`: the NotifyDERStartStop
    payloads to queue (R04.FR.20-22) and the ids whose record changed. Expired records
    are marked ended (the caller deletes them)."""
    out: list[Payload] = []
    changed: list[str] = []
    for r in sorted(records.values(), key=lambda r: (r.start() or now, r.control_id)):
        start, end = r.start(), r.end()
        if r.is_default or r.superseded or r.ended or start is None:
            continue
        if not r.started and start <= now:
            r.started = True
            msg: Payload = {"controlId": r.control_id, "started": True, "timestamp": iso(start)}
            gone = [i for i in r.supersede_at_start if i in records]
            for i in gone:
                records[i].superseded = True
                changed.append(i)
            r.supersede_at_start = []
            if gone:
                msg["supersededIds"] = gone
            out.append(msg)
            changed.append(r.control_id)
        if r.started and end is not None and end <= now:
            r.ended = True
            out.append({"controlId": r.control_id, "started": False, "timestamp": iso(end)})
            changed.append(r.control_id)
    return out, changed


def next_due(records: dict[str, DerRecord]) -> datetime | None:
    """The next start or expiry of a scheduled control, if any."""
    due: list[datetime] = []
    for r in records.values():
        start, end = r.start(), r.end()
        if r.is_default or r.superseded or r.ended or start is None:
            continue
        if not r.started:
            due.append(start)
        elif end is not None:
            due.append(end)
    return min(due, default=None)
