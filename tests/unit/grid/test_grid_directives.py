"""OCPP 2.1 DER directives: validation and rejection reasons (R04.FR.15-17, FR.50-56)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
import pytest
from gridtest_helpers import IMMEDIATE, engine

from hal.grid.directives import parse_directive, select_active

SCHEMA = json.loads(
    (Path(ocpp.__file__).parent / "v21" / "schemas" / "SetDERControlRequest.json").read_text()
)


def curve(
    ctype: str, points: list[tuple[float, float]], y_unit: str, **extra: Any
) -> dict[str, Any]:
    return {
        "controlId": f"{ctype}-1",
        "controlType": ctype,
        "isDefault": True,
        "curve": {
            "priority": 0,
            "yUnit": y_unit,
            "curveData": [{"x": x, "y": y} for x, y in points],
            **extra,
        },
    }


VALID = [
    curve(
        "HVMustTrip",
        [(0.16, 120.0), (2.0, 110.0)],
        "Not_Applicable",
        voltageParams={"hv10MinMeanValue": 110.0, "hv10MinMeanTripDelay": 3.0},
    ),
    curve(
        "LVMomCess",
        [(0.0, 50.0)],
        "Not_Applicable",
        voltageParams={"powerDuringCessation": "Reactive"},
    ),
    curve(
        "VoltVar",
        [(92, 44), (98, 0), (102, 0), (108, -44)],
        "PctMaxVar",
        responseTime=5.0,
        reactivePowerParams={
            "vRef": 101.0,
            "autonomousVRefEnable": True,
            "autonomousVRefTimeConstant": 600.0,
        },
    ),
    curve(
        "VoltWatt",
        [(106, 100), (110, 0)],
        "PctMaxW",
        responseTime=10.0,
        hysteresis={
            "hysteresisLow": 90.0,
            "hysteresisHigh": 105.0,
            "hysteresisDelay": 30.0,
            "hysteresisGradient": 10.0,
        },
    ),
    curve("FreqWatt", [(49.8, -100), (50.0, 0), (50.2, 100)], "PctMaxW"),
    curve("WattPF", [(0, 1.0), (100, 0.9)], "Not_Applicable"),
    {
        "controlId": "fd",
        "controlType": "FreqDroop",
        "isDefault": True,
        "freqDroop": {
            "priority": 1,
            "overFreq": 50.2,
            "underFreq": 49.8,
            "overDroop": 0.05,
            "underDroop": 0.05,
            "responseTime": 2.0,
        },
    },
    {
        "controlId": "es",
        "controlType": "EnterService",
        "isDefault": True,
        "enterService": {
            "priority": 0,
            "highVoltage": 110.0,
            "lowVoltage": 85.0,
            "highFreq": 50.1,
            "lowFreq": 49.9,
            "delay": 60.0,
            "randomDelay": 30.0,
            "rampRate": 600.0,
        },
    },
    {
        "controlId": "fv",
        "controlType": "FixedVar",
        "isDefault": False,
        "fixedVar": {
            "priority": 0,
            "setpoint": -20.0,
            "unit": "PctMaxVar",
            "startTime": "2026-11-22T00:00:00Z",
            "duration": 3600.0,
        },
    },
    {
        "controlId": "gr",
        "controlType": "Gradients",
        "isDefault": True,
        "gradient": {"priority": 0, "gradient": 10.0, "softGradient": 600.0},
    },
]


@pytest.mark.parametrize("d", VALID, ids=lambda d: d["controlType"])
def test_schema_valid_directives_are_executed(d: dict[str, Any]) -> None:
    jsonschema.validate(d, SCHEMA)  # the test data is what a CSMS may really send
    p = parse_directive(d, 50.0)
    assert p.control_type == d["controlType"] and p.id == d["controlId"]


@pytest.mark.parametrize(
    ("d", "reason"),
    [
        ({"controlType": "VoltVar"}, "missing id"),
        ({"id": "x"}, "missing controlType"),
        ({"id": "x", "controlType": "Bogus", "curve": {}}, "not a DERControlEnumType"),
        ({"id": "x", "controlType": "FreqDroop", "curve": {}}, r"exactly the field 'freqDroop'"),
        (
            {**curve("VoltVar", [(92, 44)], "PctMaxVar"), "fixedVar": {"setpoint": 1}},
            r"exactly the field 'curve'",
        ),  # R04.FR.17 two control fields
        (curve("VoltVar", [(92, 44)], "PctMaxW"), "yUnit 'PctMaxW' must be one of PctMaxVar"),
        (curve("HVMustTrip", [(0.16, 120)], "PctMaxW"), "yUnit .* Not_Applicable"),
        (curve("VoltVar", [(98, 0), (92, 44)], "PctMaxVar"), "sorted by x"),
        (curve("FreqWatt", [(50.0, 0), (50.0, 10)], "PctMaxW"), "duplicates x=50.0"),
        (curve("HVMustTrip", [(120, 0.16), (110, 2.0)], "Not_Applicable"), "time in s on x"),
        (
            curve(
                "HVMustTrip",
                [(0.16, 120)],
                "Not_Applicable",
                voltageParams={"hv10MinMeanValue": 110.0},
            ),
            "go together",
        ),
        (
            {
                "id": "g",
                "controlType": "Gradients",
                "isDefault": False,
                "gradient": {"priority": 0, "gradient": 1, "softGradient": 1},
            },
            "R04.FR.15",
        ),
        (
            {
                "id": "f",
                "controlType": "FixedPFInject",
                "fixedPFInject": {"priority": 0, "displacement": 1.5, "excitation": False},
            },
            r"displacement 1.5 must be in \(0, 1\]",
        ),
        (
            {
                "id": "f",
                "controlType": "FreqDroop",
                "freqDroop": {
                    "priority": 0,
                    "overFreq": 49.0,
                    "underFreq": 49.8,
                    "overDroop": 0.05,
                    "underDroop": 0.05,
                    "responseTime": 1,
                },
            },
            "overFreq = 49.0 outside 50..60 Hz",
        ),
        (
            {
                "id": "e",
                "controlType": "EnterService",
                "isDefault": True,
                "enterService": {
                    "priority": 0,
                    "highVoltage": 253.0,
                    "lowVoltage": 195.5,
                    "highFreq": 50.1,
                    "lowFreq": 49.9,
                },
            },
            r"lowVoltage = 195.5 outside 50..150 %Un",
        ),  # volts, not percent
        (
            {"id": "l", "controlType": "LimitMaxDischarge", "limitMaxDischarge": {"priority": 0}},
            "needs pctMaxDischargePower",
        ),
        (
            {
                "id": "v",
                "controlType": "FixedVar",
                "fixedVar": {"priority": 0, "setpoint": 10, "unit": "PctMaxW"},
            },
            "unit 'PctMaxW'",
        ),
        (curve("VoltVar", [(92, float("nan"))], "PctMaxVar"), "not finite"),
    ],
)
def test_rejections_name_the_reason(d: dict[str, Any], reason: str) -> None:
    chosen, rejected = select_active([d], 50.0)
    assert chosen == {}
    assert len(rejected) == 1
    assert rejected[0][0] == str(d.get("id", d.get("controlId", "")))
    assert re.search(reason, rejected[0][1]), rejected[0][1]


def test_one_control_per_type_highest_priority_wins() -> None:
    a = curve("VoltVar", [(92, 44), (108, -44)], "PctMaxVar")
    a["controlId"] = "a"
    a["curve"]["priority"] = 3
    b = curve("VoltVar", [(90, 44), (110, -44)], "PctMaxVar")
    b["controlId"] = "b"
    b["curve"]["priority"] = 1
    chosen, rejected = select_active([a, b], 50.0)
    assert chosen["VoltVar"].id == "b"
    assert rejected[0][0] == "a" and "another VoltVar control is applied ('b'" in rejected[0][1]


def test_inactive_directives_are_neither_applied_nor_rejected() -> None:
    d = {**curve("VoltVar", [(92, 44)], "PctMaxVar"), "active": False}
    assert select_active([d], 50.0) == ({}, [])


def test_engine_keeps_accepted_and_reports_rejected() -> None:
    eng = engine("vde-ar-n-4105", IMMEDIATE)
    good = VALID[6]
    bad = curve("VoltVar", [(98, 0), (92, 44)], "PctMaxVar")
    rejected = eng.set_directives([good, bad], 0.0)
    assert [r.directive_id for r in rejected] == ["VoltVar-1"]
    assert "sorted" in rejected[0].reason
    assert [d["controlId"] for d in eng.directives] == ["fd"]
    assert eng.controls["FreqDroop"] == parse_directive(good, 50.0).spec
