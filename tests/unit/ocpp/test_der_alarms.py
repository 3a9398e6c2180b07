"""R05 NotifyDERAlarm exactly once (evse/ocpp/der_alarms.py), SQLite on disk: an alarm
hal raised while evse was down (in hal's welcome) is reported with the time it started;
one already reported is not sent again, also after a restart; the queued message and
the reported mark are written together (a crash between them loses or repeats none)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evse.ocpp.der_alarms import ENDED_UNSEEN, DerAlarms
from evse.ocpp.interfaces import DerAlarm, DerAlarmsInForce
from evse.store import Store
from hal.der_rules import ALL_TYPES

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)


class Boom(Exception):
    pass


def alarms(store: Store, fail: bool = False) -> DerAlarms:
    def push(action: str, payload: dict[str, Any]) -> None:
        # What MessageQueue.push does for a NotifyDERAlarm (always persisted).
        store.queue_append(str(uuid.uuid4()), action, payload, "transaction")
        if fail:
            raise Boom("power lost after the message was written")

    return DerAlarms(store, push, lambda: NOW, frozenset(ALL_TYPES))


def sent(store: Store) -> list[dict[str, Any]]:
    return [m.payload for m in store.queue_all() if m.action == "NotifyDERAlarm"]


def hf(at: datetime, ended: bool = False) -> DerAlarm:
    return DerAlarm(1, "HFMustTrip", "OverFrequency", ended, "", at)


def test_r05_alarm_raised_while_evse_down_reported_once_with_its_start_time(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "evse.db")
    alarms(store).sync(DerAlarmsInForce(1, (hf(T0),)))
    expected = {
        "controlType": "HFMustTrip",
        "alarmEnded": False,
        "timestamp": "2026-06-01T12:00:00.000Z",  # when hal saw it, not NOW
        "gridEventFault": "OverFrequency",
    }
    assert sent(store) == [expected]
    alarms(store).sync(DerAlarmsInForce(1, (hf(T0),)))  # a hal reconnect: not again
    store.close()
    store = Store(tmp_path / "evse.db")  # an evse restart: not again either
    again = alarms(store)
    again.sync(DerAlarmsInForce(1, (hf(T0),)))
    again.alarm(hf(T0))  # the live event of the same alarm, arriving after the welcome
    assert sent(store) == [expected]
    again.alarm(hf(T0 + timedelta(seconds=30), ended=True))  # it ends: reported
    assert [m["alarmEnded"] for m in sent(store)] == [False, True]
    store.close()


def test_r05_reported_alarm_that_ended_while_evse_was_down_is_ended(tmp_path: Path) -> None:
    store = Store(tmp_path / "evse.db")
    a = alarms(store)
    a.alarm(hf(T0))  # reported live
    a.sync(DerAlarmsInForce(1, ()))  # hal's welcome after a restart: no longer in force
    ended = sent(store)[-1]
    assert ended == {
        "controlType": "HFMustTrip",
        "alarmEnded": True,
        "timestamp": "2026-06-01T12:05:00.000Z",
        "gridEventFault": "OverFrequency",
        "extraInfo": ENDED_UNSEEN,
    }
    a.sync(DerAlarmsInForce(1, ()))
    assert len(sent(store)) == 2  # ended once
    store.close()


def test_r05_queued_message_and_reported_mark_are_one_transaction(tmp_path: Path) -> None:
    store = Store(tmp_path / "evse.db")
    with pytest.raises(Boom):
        alarms(store, fail=True).sync(DerAlarmsInForce(1, (hf(T0),)))
    assert sent(store) == []  # rolled back with the mark: the next welcome sends it
    alarms(store).sync(DerAlarmsInForce(1, (hf(T0),)))
    assert len(sent(store)) == 1
    store.close()


def numbered(seq: int, at: datetime, ended: bool = False) -> DerAlarm:
    return DerAlarm(1, "HFMustTrip", "OverFrequency", ended, "", at, seq)


def test_r05_alarm_started_and_ended_while_evse_down_queued_from_hal_history_once(
    tmp_path: Path,
) -> None:
    """hal's welcome history: start and end both happened while evse was down; both are
    queued in order with their own times, once, also after an evse restart and when the
    live edges or the same welcome come again."""
    store = Store(tmp_path / "evse.db")
    history = (numbered(10, T0), numbered(11, T0 + timedelta(seconds=3), ended=True))
    alarms(store).sync(DerAlarmsInForce(1, (), history))
    expected = [
        {"controlType": "HFMustTrip", "alarmEnded": False,
         "timestamp": "2026-06-01T12:00:00.000Z", "gridEventFault": "OverFrequency"},
        {"controlType": "HFMustTrip", "alarmEnded": True,
         "timestamp": "2026-06-01T12:00:03.000Z", "gridEventFault": "OverFrequency"},
    ]  # fmt: skip
    assert sent(store) == expected
    store.close()
    store = Store(tmp_path / "evse.db")
    again = alarms(store)
    again.sync(DerAlarmsInForce(1, (), history))
    for edge in history:
        again.alarm(edge)
    assert sent(store) == expected
    again.alarm(numbered(12, T0 + timedelta(seconds=9)))  # a newer edge: queued
    assert len(sent(store)) == 3
    store.close()


def test_r05_numbered_edge_and_its_mark_written_together(tmp_path: Path) -> None:
    store = Store(tmp_path / "evse.db")
    with pytest.raises(Boom):
        alarms(store, fail=True).alarm(numbered(5, T0))
    assert sent(store) == []  # rolled back: neither the message nor the mark
    alarms(store).alarm(numbered(5, T0))
    assert len(sent(store)) == 1
    store.close()
