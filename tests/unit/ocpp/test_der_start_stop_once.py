"""R04.FR.20 NotifyDERStartStop exactly once across a crash (evse/ocpp/der_control.py):
the queued notification and the control's `started` flag are written in one SQLite
transaction. A crash right after the message was written (before the flag) must leave
neither, so the next process notifies the start once, not twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evse.ocpp.clock import SimClock, iso
from evse.ocpp.der_control import DerControls
from evse.ocpp.device_model import DeviceModel
from evse.store import Store

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Crash(Exception):
    pass


def notes(store: Store) -> list[dict[str, Any]]:
    return [m.payload for m in store.queue_all() if m.action == "NotifyDERStartStop"]


def controls(store: Store, clock: SimClock, crash: bool = False) -> DerControls:
    def push(action: str, payload: dict[str, Any]) -> None:
        store.queue_append(str(uuid.uuid4()), action, payload, "transaction")
        if crash and action == "NotifyDERStartStop":
            raise Crash("killed after the message was written")

    return DerControls(DeviceModel(store), store, clock, push, None)


def test_r04_fr_20_start_notified_once_when_killed_between_message_and_flag(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = SimClock(T0)
        store = Store(tmp_path / "evse.db")
        start = T0 + timedelta(seconds=10)
        curve = {
            "priority": 1,
            "yUnit": "Not_Applicable",
            "startTime": iso(start),
            "duration": 600.0,
            "curveData": [{"x": 0.1, "y": 52.5}, {"x": 0.2, "y": 52.0}],
        }
        req = {"controlId": "s1", "controlType": "HFMustTrip", "isDefault": False, "curve": curve}
        der = controls(store, clock, crash=True)
        assert (await der.on_set(req))["status"] == "Accepted"
        await clock.advance(20.0)
        with pytest.raises(Crash):
            der._update()  # the start is due: the process dies inside the write
        store.close()
        store = Store(tmp_path / "evse.db")  # the next process
        controls(store, clock)._update()
        assert [(n["controlId"], n["started"]) for n in notes(store)] == [("s1", True)]
        store.close()

    asyncio.run(scenario())
