"""R05 in hal (hal/alarm_history.py): every DER alarm edge is numbered and kept, in
order and bounded, in a file written atomically off the sample loop; the numbers keep
growing across a restart (also one that lost the last write), and the history comes
back after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hal.alarm_history import AlarmHistory
from hal.grid.alarms import GridAlarm
from hal.persist import load_alarm_history
from hal.unit.reports import Reporter


def edge(h: AlarmHistory, kind: str, ctype: str = "HFMustTrip") -> int:
    return h.record(1, kind, {"controlType": ctype, "timestamp": "2026-06-01T12:00:00.000Z"})


async def flushed(h: AlarmHistory, path: Path, count: int) -> None:
    task = asyncio.create_task(h.run())
    try:
        async with asyncio.timeout(20):
            while len(load_alarm_history(path)[1]) < count:  # noqa: ASYNC110 - polls a file
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_r05_alarm_history_numbers_grow_across_restarts_and_survive_them(tmp_path: Path) -> None:
    path = tmp_path / "h.cbor"
    h = AlarmHistory(path, wall_s=lambda: 0.0)
    a, b = edge(h, "der_alarm"), edge(h, "der_alarm_ended")
    assert a < b
    asyncio.run(flushed(h, path, 2))
    h2 = AlarmHistory(path, wall_s=lambda: 0.0)  # a restart: the history is back
    assert [(e["seq"], e["kind"]) for e in h2.entries()] == [
        (a, "der_alarm"),
        (b, "der_alarm_ended"),
    ]
    c = edge(h2, "der_alarm")
    assert c > b
    # A kill -9 before `c` was written: the next run still never repeats `c`.
    h3 = AlarmHistory(path, wall_s=lambda: 0.0)
    assert len(h3.entries()) == 2
    assert edge(h3, "der_alarm") > c


def test_r05_alarm_history_is_bounded_oldest_dropped(tmp_path: Path) -> None:
    h = AlarmHistory(tmp_path / "h.cbor", capacity=3, wall_s=lambda: 0.0)
    seqs = [edge(h, "der_alarm", f"T{i}") for i in range(5)]
    assert [e["seq"] for e in h.entries()] == seqs[2:]


def test_r05_reporter_numbers_its_alarm_edges_and_keeps_them(tmp_path: Path) -> None:
    h = AlarmHistory(tmp_path / "h.cbor", wall_s=lambda: 0.0)
    rep = Reporter(1, lambda m: None, report_period_s=1.0, constraint_step_w=10.0)
    rep.history = h
    events: list[tuple[str, dict[str, object]]] = []
    rep.alarms(
        (GridAlarm("HFMustTrip", "OverFrequency", False, "f"),), lambda k, d: events.append((k, d))
    )
    rep.alarms(
        (GridAlarm("HFMustTrip", "OverFrequency", True, "f"),), lambda k, d: events.append((k, d))
    )
    kept = h.entries()
    assert [e["kind"] for e in kept] == ["der_alarm", "der_alarm_ended"]
    assert [d["seq"] for _, d in events] == [e["seq"] for e in kept]
    assert kept[0]["evse_id"] == 1 and kept[0]["gridEventFault"] == "OverFrequency"
