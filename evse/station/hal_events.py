"""Turns hal's reports into the station events the OCPP side understands. Pure: one
`feed(message)` in, a list of events out; it keeps just enough state to report changes.

- control pilot A -> B/C/D: EV plugged; back to A: unplugged; E or F: connector Faulted
  or Unavailable (F is also how evse makes an EVSE unavailable);
- contactor confirmed closed / open: power path closed / opened;
- energy flowing: contactor closed and |P| above 1 % of rating (at least 50 W), reported
  on change; when it stops with the path still closed, the EV suspended it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evse.ocpp.interfaces import (
    ConnectorStatus,
    EnergyTransfer,
    EvPlugged,
    EvUnplugged,
    PowerPathClosed,
    PowerPathOpened,
    StationEvent,
)
from hal.protocol import Event, Measurement, Message

_PLUGGED = ("B", "C", "D")


@dataclass
class _EvseTrack:
    plugged: bool = False
    faulted: bool = False
    path_closed: bool = False
    flowing: bool = False
    threshold_w: float = 50.0


@dataclass
class HalEventTranslator:
    evses: dict[int, _EvseTrack] = field(default_factory=dict)

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

    def _event(self, ev: Event) -> list[StationEvent]:
        t = self._track(ev.evse_id)
        out: list[StationEvent] = []
        if ev.kind == "cp_state":
            state = str(ev.data.get("state"))
            plugged = state in _PLUGGED
            faulted = state in ("E", "F")
            if plugged and not t.plugged and not faulted:
                out.append(EvPlugged(ev.evse_id))
            if not plugged and t.plugged and state == "A":
                out.append(EvUnplugged(ev.evse_id))
            if faulted != t.faulted:
                status = (
                    ("Faulted" if state == "E" else "Unavailable")
                    if faulted
                    else ("Occupied" if plugged else "Available")
                )
                out.append(ConnectorStatus(ev.evse_id, 1, status))
            if not faulted:  # E / F say nothing about the plug: keep what we knew
                t.plugged = plugged
            t.faulted = faulted
        elif ev.kind == "contactor":
            closed = bool(ev.data.get("closed"))
            if closed != t.path_closed:
                t.path_closed = closed
                out.append(PowerPathClosed(ev.evse_id) if closed else PowerPathOpened(ev.evse_id))
                if not closed and t.flowing:
                    t.flowing = False
                    out.append(EnergyTransfer(ev.evse_id, False, "EVSE"))
        return out

    def _measurement(self, m: Measurement) -> list[StationEvent]:
        t = self._track(m.evse_id)
        flowing = m.contactor_closed and abs(m.active_w) > t.threshold_w
        if flowing == t.flowing:
            return []
        t.flowing = flowing
        # Stopped with the path still closed and a non-zero setpoint: the EV stopped.
        by = "EV" if m.contactor_closed and m.setpoint_w != 0.0 else "EVSE"
        return [EnergyTransfer(m.evse_id, flowing, by)]
