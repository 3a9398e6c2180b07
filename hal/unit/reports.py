"""What one EVSE tells evse: measurements on a fixed period, the grid constraint on
change (and every second), and the state in force for `welcome`."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hal.alarm_history import AlarmHistory
from hal.devices.base import McuState, MeterReading
from hal.grid.engine import GridAlarm, GridConstraint, GridState
from hal.protocol import GridConstraintReport, Measurement, Message

_CONSTRAINT_REFRESH_S = 1.0
_CONSTRAINT_NOISE = 1.0  # W / var: below this a range has not moved


class Reporter:
    def __init__(
        self,
        evse_id: int,
        publish: Callable[[Message], None],
        *,
        report_period_s: float,
        constraint_step_w: float,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._id = evse_id
        self._wall = wall  # stamps DER alarms (R05: the event's own time, on the wire)
        # The DER alarms in force, by control type, for `welcome`: an alarm raised while
        # evse is down still reaches the CSMS when evse comes back.
        self._alarms: dict[str, dict[str, str]] = {}
        # Every edge, numbered and kept on disk (set by the daemon): one that starts and
        # ends while evse is down reaches it from `welcome` too (R05).
        self.history: AlarmHistory | None = None
        self._publish = publish
        self._period = report_period_s
        self._step_w = constraint_step_w
        self._next_report = -math.inf
        self.constraint = GridConstraint(GridState.TRIPPED, 0.0, 0.0, 0.0)
        self._last_constraint: tuple[GridConstraint, float] | None = None

    def measurement_due(self, now: float) -> bool:
        """On a deadline, not "now - last >= period": on a 20 ms sample grid the latter
        turns 100 ms into 120 ms. A late loop skips what it missed, never bursts."""
        if now < self._next_report:
            return False
        self._next_report = (
            now + self._period
            if now - self._next_report >= self._period
            else self._next_report + self._period
        )
        return True

    def measurement(
        self,
        mcu: McuState,
        active_w: float,
        reactive_var: float,
        setpoint_w: float,
        requested_w: float,
        meter: MeterReading | None,
        meter_ok: bool,
    ) -> None:
        grid = mcu.grid
        grid_ok = grid is not None and bool(grid.voltage_v)
        self._publish(
            Measurement(
                evse_id=self._id,
                voltage_v=list(grid.voltage_v) if grid else [],
                frequency_hz=grid.frequency_hz if grid else 0.0,
                active_w=active_w,
                reactive_var=reactive_var,
                setpoint_w=setpoint_w,
                requested_w=requested_w,
                import_wh=meter.import_wh if meter else 0.0,
                export_wh=meter.export_wh if meter else 0.0,
                cp_state=mcu.cp_state.value,
                contactor_closed=mcu.contactor_closed,
                # A register not read since start, or from a meter in fault, is no reading.
                energy_valid=meter is not None and meter_ok,
                grid_valid=grid_ok,
            )
        )

    @staticmethod
    def changes(
        prev: McuState | None, mcu: McuState, event: Callable[[str, dict[str, object]], None]
    ) -> None:
        """Control-pilot and (confirmed) contactor changes, as events."""
        if prev is None or prev.cp_state != mcu.cp_state:
            event(
                "cp_state",
                {
                    "state": mcu.cp_state.value,
                    "previous": prev.cp_state.value if prev else None,
                    "pp_ampacity_a": mcu.pp_ampacity_a,
                },
            )
        if prev is None or prev.contactor_closed != mcu.contactor_closed:
            event("contactor", {"closed": mcu.contactor_closed})

    def alarms(
        self, alarms: tuple[GridAlarm, ...], event: Callable[[str, dict[str, object]], None]
    ) -> None:
        """DER alarm edges from the grid engine (evse turns them into NotifyDERAlarm),
        stamped with the wall clock when they happen (only when there is an edge)."""
        for alarm in alarms:
            stamp = _iso(self._wall())
            if alarm.ended:
                self._alarms.pop(alarm.control_type, None)
            else:
                self._alarms[alarm.control_type] = {
                    "controlType": alarm.control_type,
                    "gridEventFault": alarm.grid_event_fault,
                    "since": stamp,
                }
            kind = "der_alarm_ended" if alarm.ended else "der_alarm"
            data: dict[str, object] = {
                "controlType": alarm.control_type,
                "gridEventFault": alarm.grid_event_fault,
                "extraInfo": alarm.extra_info,
                "timestamp": stamp,
            }
            if self.history is not None:
                data["seq"] = self.history.record(self._id, kind, data)
            event(kind, data)

    def report(self) -> GridConstraintReport:
        c = self.constraint
        return GridConstraintReport(self._id, c.state.value, c.p_min_w, c.p_max_w, c.q_var)

    def state_entry(
        self,
        m: McuState | None,
        allow: bool,
        requested_w: float,
        keepalive_ok: bool,
        faults: list[dict[str, str]],
    ) -> dict[str, Any]:
        """One EVSE's entry of `Welcome.state` (hal/protocol.py)."""
        return {
            "evse_id": self._id,
            "cp_state": m.cp_state.value if m else None,
            "pp_ampacity_a": m.pp_ampacity_a if m else None,
            "contactor_closed": m.contactor_closed if m else False,
            "allow": allow,
            "requested_w": requested_w,
            "keepalive_ok": keepalive_ok,
            "faults": faults,
            "grid": self.grid_state(),
            "alarms": [dict(a) for a in self._alarms.values()],
        }

    def grid_state(self) -> dict[str, object]:
        c = self.constraint
        return {
            "state": c.state.value,
            "p_min_w": c.p_min_w,
            "p_max_w": c.p_max_w,
            "q_var": c.q_var,
        }

    def constraint_changed(self, now: float, c: GridConstraint) -> None:
        """At once on a state change or a move of more than 1 % of rating; a smaller
        move once a report period has passed (a droop ramp moves the range a little
        every sample: not one report per sample, yet an AC car, whose inverter hears hal
        only through the next ChargeLoopRes, gets it within a period); otherwise
        refreshed once a second."""
        self.constraint = c
        last = self._last_constraint
        if last is not None:
            prev, t = last
            moved = max(
                abs(prev.p_min_w - c.p_min_w),
                abs(prev.p_max_w - c.p_max_w),
                abs(prev.q_var - c.q_var),
            )
            significant = prev.state != c.state or moved > self._step_w
            small_due = moved > _CONSTRAINT_NOISE and now - t >= self._period
            if not significant and not small_due and now - t < _CONSTRAINT_REFRESH_S:
                return
        self._last_constraint = (c, now)
        self._publish(self.report())


def _iso(t: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, as OCPP writes time stamps."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
