"""Alarm edges: one start event when a function begins acting on a grid fault, one end
event when it stops (OCPP 2.1 R05 NotifyDERAlarm {controlType, gridEventFault,
alarmEnded, extraInfo}); repeated samples of the same condition raise nothing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GridAlarm:
    control_type: str
    grid_event_fault: str
    ended: bool
    extra_info: str = ""


class AlarmTracker:
    def __init__(self) -> None:
        self._active: dict[str, tuple[str, str]] = {}  # control type -> (fault, extra)

    def set(
        self, control_type: str, active: bool, fault: str, extra: str, out: list[GridAlarm]
    ) -> None:
        cur = self._active.get(control_type)
        if active and cur is None:
            self._active[control_type] = (fault, extra)
            out.append(GridAlarm(control_type, fault, False, extra))
        elif not active and cur is not None:
            del self._active[control_type]
            out.append(GridAlarm(control_type, cur[0], True, cur[1]))

    def is_active(self, control_type: str) -> bool:
        return control_type in self._active
