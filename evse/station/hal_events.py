"""Turns hal's reports into the station events the OCPP side understands. Pure: one
`feed(message)` in, a list of events out; it keeps just enough state to report changes.

- control pilot A -> B/C/D: EV plugged; back to A: unplugged; E or F say nothing about
  the plug (E is an error of the pilot, F is how evse makes an EVSE unavailable);
- contactor confirmed closed / open: power path closed / opened;
- energy flowing: contactor closed and |P| above 1 % of rating (at least 50 W), reported
  on change; when it stops with the path still closed, the EV suspended it;
- der_alarm / der_alarm_ended: a DerAlarm stamped with hal's time of the event (R05; the
  wall clock on arrival if hal gave none); the alarms in force are kept per EVSE;
- connector status (G01: sent whenever it changes): Faulted while hal reports a fault of
  the EVSE (a device, the contactor, the RCD, the MCU's error flags, the stage's own
  status) or the pilot is in E; Unavailable in F; else Occupied while an EV is plugged
  in, Available when not.

`sync_welcome(state)` turns hal's welcome (the state in force per EVSE) into the same
events, whole rather than as a change, so a restarted evse rebuilds its view (with the
DER alarms in force, raised maybe while evse was down); `snapshot()` and
`alarms_in_force()` give a freshly started OCPP side everything known so far.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evse.ocpp.interfaces import (
    ConnectorStatus,
    DerAlarm,
    DerAlarmsInForce,
    EnergyTransfer,
    EvPlugged,
    EvUnplugged,
    PowerPathClosed,
    PowerPathOpened,
    StationEvent,
)
from hal.protocol import FAULT_GRID_SAMPLE, Event, GridConstraintReport, Measurement, Message

log = logging.getLogger(__name__)

_PLUGGED = ("B", "C", "D")
_CP_STATES = ("A", "B", "C", "D", "E", "F")
# A missing grid sample is a condition of the grid measurement, not of the connector:
# the unit ceases to energize and the grid constraint says so; the connector stays usable.
_NOT_CONNECTOR_FAULTS = frozenset({FAULT_GRID_SAMPLE})
_ALARM_KINDS = ("der_alarm", "der_alarm_ended")
_HISTORY = 256  # hal's numbered alarm edges kept per EVSE for a restarted OCPP side


@dataclass
class _EvseTrack:
    cp: str | None = None
    plugged: bool = False
    path_closed: bool = False
    flowing: bool = False
    threshold_w: float = 50.0
    faults: dict[str, str] = field(default_factory=dict)  # device -> reason
    status: str = "Available"  # the last ConnectorStatus reported (the OCPP side's start)
    alarms: dict[str, DerAlarm] | None = None  # control type -> in force; None: unknown
    history: list[DerAlarm] = field(default_factory=list)  # hal's numbered edges (R05)


@dataclass(frozen=True)
class EvseSnapshot:
    """One EVSE of hal's welcome: the events that rebuild it, and its grid constraint."""

    evse_id: int
    events: list[StationEvent]
    constraint: GridConstraintReport | None


@dataclass
class HalEventTranslator:
    evses: dict[int, _EvseTrack] = field(default_factory=dict)
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)  # stamps DER alarms (R05)

    def set_rating(self, evse_id: int, rated_w: float) -> None:
        self._track(evse_id).threshold_w = max(50.0, 0.01 * rated_w)

    def _track(self, evse_id: int) -> _EvseTrack:
        return self.evses.setdefault(evse_id, _EvseTrack())

    def feed(self, msg: Message) -> list[StationEvent]:
        if isinstance(msg, Event):
            return self._event(msg)
        if isinstance(msg, Measurement):
            return self._measurement(msg)
        return []

    # -- changes ----------------------------------------------------------------------

    def _event(self, ev: Event) -> list[StationEvent]:
        t = self._track(ev.evse_id)
        out: list[StationEvent] = []
        if ev.kind == "cp_state":
            out += self._pilot(ev.evse_id, t, str(ev.data.get("state")), whole=False)
        elif ev.kind == "contactor":
            out += self._contactor(ev.evse_id, t, bool(ev.data.get("closed")), whole=False)
        elif ev.kind == "fault":
            device = str(ev.data.get("device"))
            if device not in _NOT_CONNECTOR_FAULTS:
                t.faults[device] = str(ev.data.get("reason", ""))
        elif ev.kind == "fault_cleared":
            t.faults.pop(str(ev.data.get("device")), None)
        elif ev.kind in ("der_alarm", "der_alarm_ended"):
            # R05: the time of the event, not of the send (the alarm may wait offline).
            d = ev.data
            ended = ev.kind == "der_alarm_ended"
            ctype = str(d.get("controlType"))
            alarm = _alarm(ev.evse_id, d, ended, self._time(d.get("timestamp")))
            if alarm.seq is not None:
                t.history = [*t.history[1 - _HISTORY :], alarm]
            if t.alarms is not None and ended:
                t.alarms.pop(ctype, None)
            elif t.alarms is not None:
                t.alarms[ctype] = alarm
            out.append(alarm)
        return out + self._status(ev.evse_id, t)

    def _time(self, text: object) -> datetime:
        """hal's ISO 8601 time stamp; the wall clock now if there is none or it is bad."""
        if isinstance(text, str):
            try:
                t = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if t.tzinfo is not None:
                    return t.astimezone(UTC)
            except ValueError:
                pass
            log.warning("DER alarm time stamp %r not understood: the arrival time is used", text)
        return self.wall()

    def _pilot(self, eid: int, t: _EvseTrack, state: str, whole: bool) -> list[StationEvent]:
        out: list[StationEvent] = []
        t.cp = state
        if state in ("E", "F"):
            return out  # E / F say nothing about the plug: keep what we knew
        plugged = state in _PLUGGED
        if plugged and (whole or not t.plugged):
            out.append(EvPlugged(eid))
        if not plugged and (whole or t.plugged):
            out.append(EvUnplugged(eid))
        t.plugged = plugged
        return out

    def _contactor(self, eid: int, t: _EvseTrack, closed: bool, whole: bool) -> list[StationEvent]:
        out: list[StationEvent] = []
        if closed != t.path_closed or whole:
            t.path_closed = closed
            out.append(PowerPathClosed(eid) if closed else PowerPathOpened(eid))
            if not closed and t.flowing:
                t.flowing = False
                out.append(EnergyTransfer(eid, False, "EVSE"))
        return out

    def _status(self, eid: int, t: _EvseTrack, whole: bool = False) -> list[StationEvent]:
        if t.cp is None and not t.faults:
            return []  # nothing known yet
        if t.faults or t.cp == "E":
            status = "Faulted"
        elif t.cp == "F":
            status = "Unavailable"
        else:
            status = "Occupied" if t.plugged else "Available"
        if status == t.status and not whole:
            return []
        t.status = status
        return [ConnectorStatus(eid, 1, status)]

    def _measurement(self, m: Measurement) -> list[StationEvent]:
        t = self._track(m.evse_id)
        flowing = m.contactor_closed and abs(m.active_w) > t.threshold_w
        if flowing == t.flowing:
            return []
        t.flowing = flowing
        # Stopped with the path still closed and a non-zero setpoint: the EV stopped.
        by = "EV" if m.contactor_closed and m.setpoint_w != 0.0 else "EVSE"
        return [EnergyTransfer(m.evse_id, flowing, by)]

    # -- whole state ------------------------------------------------------------------

    def sync_welcome(
        self, state: list[dict[str, Any]], known: set[int], history: Sequence[Any] = ()
    ) -> list[EvseSnapshot]:
        """hal's welcome `state` (and its DER alarm `history`) -> per EVSE the events that
        make the OCPP side match it. A field of the wrong type is logged and left out."""
        self._welcome_history(history, known)
        out = []
        for entry in state:
            eid = entry.get("evse_id")
            if not isinstance(eid, int) or isinstance(eid, bool) or eid not in known:
                log.warning("welcome state for an unknown EVSE ignored: %r", eid)
                continue
            t = self._track(eid)
            events: list[StationEvent] = []
            faults = entry.get("faults")
            if isinstance(faults, list):
                t.faults = {
                    str(f["device"]): str(f.get("reason", ""))
                    for f in faults
                    if isinstance(f, dict)
                    and isinstance(f.get("device"), str)
                    and f["device"] not in _NOT_CONNECTOR_FAULTS
                }
            cp = entry.get("cp_state")
            if isinstance(cp, str) and cp in _CP_STATES:
                events += self._pilot(eid, t, cp, whole=True)
            closed = entry.get("contactor_closed")
            if isinstance(closed, bool):
                events += self._contactor(eid, t, closed, whole=True)
            events += self._status(eid, t, whole=True)
            alarms = self._welcome_alarms(eid, t, entry.get("alarms"))
            if alarms is not None:
                events.append(alarms)
            out.append(EvseSnapshot(eid, events, _constraint(eid, entry.get("grid"))))
        return out

    def _welcome_alarms(self, eid: int, t: _EvseTrack, alarms: object) -> DerAlarmsInForce | None:
        if not isinstance(alarms, list):
            return None  # an older hal: nothing known, nothing to end
        t.alarms = {}
        for a in alarms:
            if isinstance(a, dict) and isinstance(a.get("controlType"), str):
                ctype = a["controlType"]
                fault = str(a.get("gridEventFault") or "")
                t.alarms[ctype] = DerAlarm(eid, ctype, fault, False, "", self._time(a.get("since")))
            else:
                log.warning("welcome DER alarm of EVSE %d not understood: %r", eid, a)
        return DerAlarmsInForce(eid, tuple(t.alarms.values()), tuple(t.history))

    def _welcome_history(self, history: Sequence[Any], known: set[int]) -> None:
        fresh: dict[int, list[DerAlarm]] = {}
        for e in history:
            d = e if isinstance(e, dict) else {}
            eid, seq, kind = d.get("evse_id"), d.get("seq"), d.get("kind")
            if eid in known and isinstance(seq, int) and kind in _ALARM_KINDS:
                ended = kind == "der_alarm_ended"
                alarm = _alarm(int(eid), d, ended, self._time(d.get("timestamp")))
                fresh.setdefault(alarm.evse_id, []).append(alarm)
            else:
                log.warning("welcome DER alarm history entry not understood: %r", e)
        for eid, alarms in fresh.items():
            self._track(eid).history = sorted(alarms, key=lambda a: a.seq or 0)[-_HISTORY:]

    def alarms_in_force(self) -> list[DerAlarmsInForce]:
        """Per EVSE whose alarms hal told: the DER alarms in force (R05)."""
        return [
            DerAlarmsInForce(eid, tuple(t.alarms.values()), tuple(t.history))
            for eid, t in sorted(self.evses.items())
            if t.alarms is not None
        ]

    def snapshot(self) -> list[StationEvent]:
        """Everything known, as events, for an OCPP side that starts from nothing."""
        out: list[StationEvent] = []
        for eid, t in sorted(self.evses.items()):
            if t.cp is None:
                continue
            out.append(EvPlugged(eid) if t.plugged else EvUnplugged(eid))
            out.append(PowerPathClosed(eid) if t.path_closed else PowerPathOpened(eid))
            if t.flowing:
                out.append(EnergyTransfer(eid, True))
            out.append(ConnectorStatus(eid, 1, t.status))
        return out + list(self.alarms_in_force())


def _alarm(eid: int, d: dict[str, Any], ended: bool, at: datetime) -> DerAlarm:
    fault, extra = str(d.get("gridEventFault") or ""), str(d.get("extraInfo") or "")
    seq = d.get("seq")
    n = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    return DerAlarm(eid, str(d.get("controlType")), fault, ended, extra, at, n)


def _constraint(eid: int, grid: object) -> GridConstraintReport | None:
    if not isinstance(grid, dict):
        return None
    try:
        return GridConstraintReport(
            eid,
            str(grid["state"]),
            float(grid["p_min_w"]),
            float(grid["p_max_w"]),
            float(grid["q_var"]),
        )
    except (KeyError, TypeError, ValueError):
        log.warning("welcome grid state of EVSE %d not understood: %r", eid, grid)
        return None
