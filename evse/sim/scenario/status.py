"""Status lines in words a person understands: one when something happens (a step, a
grid function acting, an OCPP message that matters, a process fault) and a summary line
every few seconds. Built from the trace records as they are added."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hal import protocol as p


def _kw(w: float) -> str:
    return f"{abs(w) / 1000:.1f} kW"


def flow(w: float) -> str:
    if w > 100:
        return f"charging {_kw(w)}"
    if w < -100:
        return f"discharging {_kw(w)}"
    return "no power"


class StatusWords:
    def __init__(
        self, out: Callable[[str], None], last: Callable[[], p.Measurement | None],
        nominal_hz: float = 50.0,
    ) -> None:
        self.out = out
        self.last = last
        self.nominal_hz = nominal_hz
        self._grid_state = "normal"
        self._car_stage = "unplugged"
        self._told_w: float | None = None  # the droop's last limit told (lines on change)

    def line(self, t: float, text: str) -> None:
        self.out(f"{t:7.1f} s  {text}")

    def summary(self, t: float, csms: str, car: str) -> None:
        m = self.last()
        if m is None:
            self.line(t, f"no measurement from hal (not running?) | CSMS {csms}")
            return
        volts = sum(m.voltage_v) / max(len(m.voltage_v), 1)
        asked = f" (asked {_kw(m.requested_w)})" if abs(m.requested_w - m.active_w) > 300 else ""
        self.line(
            t,
            f"grid {m.frequency_hz:.2f} Hz {volts:.0f} V | {flow(m.active_w)}{asked} | "
            f"contactor {'closed' if m.contactor_closed else 'open'} | CSMS {csms} | car {car}",
        )

    def on_record(self, rec: dict[str, Any]) -> None:
        text = self._words(rec)
        if text:
            self.line(rec["t"], text)

    def _words(self, rec: dict[str, Any]) -> str | None:
        src = rec["src"]
        if src == "step":
            return f"-> {rec.get('say', rec.get('do'))}"
        if src == "process":
            return f"{rec['target']} {rec['event']}"
        if src == "ocpp":
            return self._ocpp(rec)
        if src == "hal" and rec.get("type") == "constraint":
            return self._constraint(rec)
        if src == "hal" and rec.get("type") == "event":
            words = HAL_EVENTS.get(rec["kind"])
            if words is None:
                return None
            return f"hal: {words} {_brief(rec.get('data', {}))}".rstrip()
        if src == "car" and "stage" in rec:
            if rec["stage"] == self._car_stage:
                return None
            self._car_stage = rec["stage"]
            return f"car: {rec['stage']}" + (f" ({rec['note']})" if rec.get("note") else "")
        if src == "car" and rec.get("kind") == "session":
            return f"car: -20 session {rec.get('outcome')} {rec.get('reason', '')}".rstrip()
        if src == "slac":
            return f"car: SLAC {rec.get('event')} {rec.get('reason', '')}".rstrip()
        if src == "mqtt" and rec.get("direction") == "station->ems" and rec["topic"].endswith(
            "/reply"
        ):
            pl = rec["payload"]
            if isinstance(pl, dict):
                verdict = "accepted" if pl.get("ok") else f"refused ({pl.get('reason')})"
                return f"EMS command {pl.get('command')} {verdict}"
        return None

    def _ocpp(self, rec: dict[str, Any]) -> str | None:
        frame = rec["frame"]
        if rec.get("direction") != "station->csms" or not isinstance(frame, list):
            return None
        action, payload = rec.get("action"), frame[3] if len(frame) > 3 else {}
        if action == "NotifyDERAlarm":
            ended = payload.get("alarmEnded", False)
            return (f"station -> CSMS: NotifyDERAlarm {payload.get('controlType')} "
                    f"{'ended' if ended else 'started'} ({payload.get('gridEventFault', '')})")
        if action == "TransactionEvent" and payload.get("eventType") in ("Started", "Ended"):
            return f"station -> CSMS: transaction {payload['eventType'].lower()}"
        if action in ("BootNotification", "NotifyDERStartStop", "NotifyEVChargingNeeds"):
            return f"station -> CSMS: {action}"
        return None

    def _constraint(self, rec: dict[str, Any]) -> str | None:
        m = self.last()
        hz = f"grid {m.frequency_hz:.2f} Hz" if m is not None else "grid"
        state = rec["state"]
        if state != self._grid_state:
            self._grid_state = state
            words = {"tripped": "hal trips: contactor opens, power to zero",
                     "ceased": "hal ceases to energize",
                     "entering_service": "hal enters service: power ramps back in",
                     "normal": "grid normal again: power allowed"}
            return f"{hz}: {words.get(state, state)}"
        if m is None:
            return None
        if m.frequency_hz > self.nominal_hz + 0.15 and m.active_w < 0:
            first = self._told_w is None
            if self._changed(rec["p_min_w"]):
                if first:
                    return f"{hz}: hal's local droop takes over (CSMS not involved)"
                return (f"{hz}: local droop cuts discharge to {_kw(rec['p_min_w'])} "
                        "(CSMS not involved)")
        elif m.frequency_hz < self.nominal_hz - 0.15 and m.active_w > 0:
            if self._changed(rec["p_max_w"]):
                return f"{hz}: local droop cuts charging to {_kw(rec['p_max_w'])}"
        else:
            self._told_w = None
        return None

    def _changed(self, w: float) -> bool:
        """A droop line when the limit moved by 0.5 kW or more since the last one."""
        if self._told_w is not None and abs(w - self._told_w) < 500.0:
            return False
        self._told_w = w
        return True


HAL_EVENTS = {
    "der_alarm": "DER alarm",
    "der_alarm_ended": "DER alarm ended",
    "keepalive_lost": "the controller's keep-alive stopped: power ramps to zero",
    "keepalive_restored": "the controller is there (keep-alive)",
    "fault": "fault",
}


def _brief(data: dict[str, Any]) -> str:
    keys = ("controlType", "fault", "reason", "kind")
    return " ".join(f"{k}={data[k]}" for k in keys if k in data)
