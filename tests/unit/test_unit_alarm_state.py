"""R05 in hal (hal/unit/reports.py): a DER alarm edge carries the wall-clock time it
happened, and the alarms in force are part of the welcome state, so an evse that was
down when the alarm started still learns of it and when it started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hal.grid.alarms import GridAlarm
from hal.unit.reports import Reporter

T0 = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_r05_alarm_edges_time_stamped_and_in_force_in_the_welcome_state() -> None:
    clock = [T0]
    rep = Reporter(1, lambda m: None, report_period_s=1.0, constraint_step_w=10.0,
                   wall=lambda: clock[0])  # fmt: skip
    events: list[tuple[str, dict[str, object]]] = []

    def event(kind: str, data: dict[str, object]) -> None:
        events.append((kind, data))

    rep.alarms((GridAlarm("HFMustTrip", "OverFrequency", False, "f=50.6"),), event)
    assert events == [
        (
            "der_alarm",
            {
                "controlType": "HFMustTrip",
                "gridEventFault": "OverFrequency",
                "extraInfo": "f=50.6",
                "timestamp": "2026-06-01T12:00:00.123Z",
            },
        )
    ]
    state = rep.state_entry(None, False, 0.0, False, [])
    assert state["alarms"] == [
        {"controlType": "HFMustTrip", "gridEventFault": "OverFrequency",
         "since": "2026-06-01T12:00:00.123Z"}
    ]  # fmt: skip
    clock[0] = T0 + timedelta(seconds=5)
    rep.alarms((GridAlarm("HFMustTrip", "OverFrequency", True, "f=50.6"),), event)
    assert events[-1][0] == "der_alarm_ended"
    assert events[-1][1]["timestamp"] == "2026-06-01T12:00:05.123Z"
    assert rep.state_entry(None, False, 0.0, False, [])["alarms"] == []
