"""R04.FR.01 by EVSE kind: an AC EVSE (the inverter is in the car) supports the control
types the station executes itself (trips and cessation through its contactor, active power
through the car's ChargeLoop targets); reactive-power types would need the car's inverter
(ISO 15118-20 Amendment 1, not spoken by our SECC) and are NotSupported. A DC EVSE runs
them all on its own stage."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evse.ocpp.clock import SimClock
from evse.ocpp.der_control import DerControls
from evse.ocpp.der_device_model import UnitRating
from evse.ocpp.device_model import DeviceModel
from evse.store import Store

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
VOLT_VAR = {
    "controlId": "vv",
    "controlType": "VoltVar",
    "isDefault": True,
    "curve": {
        "priority": 1,
        "yUnit": "PctMaxVar",
        "curveData": [
            {"x": 92.0, "y": 44.0},
            {"x": 98.0, "y": 0.0},
            {"x": 102.0, "y": 0.0},
            {"x": 108.0, "y": -44.0},
        ],
    },
}
HF_TRIP = {
    "controlId": "hf",
    "controlType": "HFMustTrip",
    "isDefault": True,
    "curve": {
        "priority": 1,
        "yUnit": "Not_Applicable",
        "curveData": [{"x": 0.16, "y": 51.5}, {"x": 300.0, "y": 51.0}],
    },
}
LMD = {
    "controlId": "lmd",
    "controlType": "LimitMaxDischarge",
    "isDefault": True,
    "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50.0},
}


def _controls(tmp_path: Path, kind: str) -> DerControls:
    store = Store(tmp_path / "evse.sqlite")
    sent: list[tuple[str, dict[str, Any]]] = []

    def push(action: str, payload: dict[str, Any]) -> None:
        store.queue_append(str(uuid.uuid4()), action, payload, "transaction")
        sent.append((action, payload))

    unit = UnitRating(1, kind, 11000.0, 7000.0, 3000.0, 230.0, 50.0)
    return DerControls(DeviceModel(store), store, SimClock(T0), push, None, (unit,))


@pytest.mark.parametrize(
    ("kind", "control", "status"),
    [
        ("ac", VOLT_VAR, "NotSupported"),
        ("ac", HF_TRIP, "Accepted"),
        ("ac", LMD, "Accepted"),
        ("dc", VOLT_VAR, "Accepted"),
        ("dc", HF_TRIP, "Accepted"),
    ],
)
def test_r04_fr_01_modes_supported_follow_the_evse_kind(
    tmp_path: Path, kind: str, control: dict[str, Any], status: str
) -> None:
    der = _controls(tmp_path, kind)
    res = asyncio.run(der.on_set(dict(control)))
    assert res["status"] == status, res
    if status == "NotSupported":
        assert "ModesSupported" in res["statusInfo"]["additionalInfo"]
