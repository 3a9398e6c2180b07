"""R04 DER control rules, pure (evse/ocpp/der_rules.py): validation, superseding, the
set in force, and start / expiry transitions, with `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evse.ocpp import der_rules as r
from evse.ocpp.clock import iso
from evse.ocpp.der_control import report_payloads

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ALL = set(r.FIELD_FOR)


def trip(cid: str, prio: int, default: bool = True, hz: float = 50.5, **sched: Any) -> Any:
    curve: dict[str, Any] = {
        "priority": prio,
        "yUnit": "Not_Applicable",
        "curveData": [{"x": 0.2, "y": 52.0}, {"x": 1.0, "y": hz}],  # x = time s, y = Hz
        **sched,
    }
    return {"controlId": cid, "controlType": "HFMustTrip", "isDefault": default, "curve": curve}


def rec(req: dict[str, Any], now: datetime = T0) -> r.DerRecord:
    return r.DerRecord(req, iso(now))


def at(seconds: float) -> str:
    return iso(T0 + timedelta(seconds=seconds))


def rejected(req: dict[str, Any], supported: set[str] = ALL) -> str:
    with pytest.raises(r.DerRejected) as exc:
        r.check(req, supported, 50.0)
    return exc.value.status


def test_r04_fr01_not_supported_type() -> None:
    assert rejected(trip("a", 1), {"LFMustTrip"}) == "NotSupported"
    r.check(trip("a", 1), {"HFMustTrip"}, 50.0)


def test_r04_fr16_fr17_exactly_one_matching_field() -> None:
    req = trip("a", 1)
    assert rejected({**req, "freqDroop": {"priority": 1}}) == "Rejected"
    wrong = {"controlId": "b", "controlType": "FreqDroop", "isDefault": True, "curve": req["curve"]}
    assert rejected(wrong) == "Rejected"


def test_r04_fr13_default_without_schedule_and_fr15_default_only() -> None:
    assert rejected(trip("a", 1, default=True, startTime=at(0))) == "Rejected"
    assert rejected(trip("a", 1, default=True, duration=10)) == "Rejected"
    gradient = {"priority": 1, "gradient": 10.0, "softGradient": 5.0}
    req = {"controlId": "g", "controlType": "Gradients", "isDefault": False, "gradient": gradient}
    assert rejected(req) == "Rejected"
    r.check({**req, "isDefault": True}, ALL, 50.0)


def test_r04_fr50_y_unit_per_curve_type() -> None:
    req = trip("a", 1)
    req["curve"]["yUnit"] = "PctMaxW"
    assert rejected(req) == "Rejected"
    vv = {**req, "controlType": "VoltVar"}
    vv_data = [{"x": 96.0, "y": 40.0}, {"x": 104.0, "y": -40.0}]
    vv["curve"] = {**req["curve"], "yUnit": "PctMaxVar", "curveData": vv_data}
    r.check(vv, ALL, 50.0)


def test_r04_fr03_new_default_supersedes_old_default_at_once() -> None:
    records: dict[str, r.DerRecord] = {}
    assert r.add(records, rec(trip("old", 5)), T0) == []
    assert r.add(records, rec(trip("new", 2)), T0) == ["old"]
    assert records["old"].superseded
    assert [d["controlId"] for d in r.in_force(records, T0)] == ["new"]


def test_r04_fr08_losing_control_stored_superseded_and_echoed() -> None:
    records: dict[str, r.DerRecord] = {}
    r.add(records, rec(trip("win", 1)), T0)
    assert r.add(records, rec(trip("lose", 3)), T0) == ["lose"]
    assert records["lose"].superseded and not records["win"].superseded


def test_r04_tie_supersedes_nothing() -> None:
    records: dict[str, r.DerRecord] = {}
    r.add(records, rec(trip("a", 2)), T0)
    assert r.add(records, rec(trip("b", 2)), T0) == []
    assert not records["a"].superseded and not records["b"].superseded
    # one control per type goes to hal: the first received wins the tie
    assert [d["controlId"] for d in r.in_force(records, T0)] == ["a"]


def test_r04_fr06_scheduled_not_yet_active_superseded_at_once() -> None:
    records: dict[str, r.DerRecord] = {}
    r.add(records, rec(trip("later", 5, default=False, startTime=at(100))), T0)
    assert r.add(records, rec(trip("new", 1, default=False, startTime=at(50))), T0) == ["later"]


def test_r04_fr07_active_superseded_when_new_one_starts_fr20_fr21() -> None:
    records: dict[str, r.DerRecord] = {}
    r.add(records, rec(trip("now", 5, default=False, startTime=at(0), duration=1000)), T0)
    notes, _ = r.transitions(records, T0)
    assert notes == [{"controlId": "now", "started": True, "timestamp": at(0)}]
    new = rec(trip("new", 1, default=False, startTime=at(60), duration=30))
    assert r.add(records, new, T0) == []  # active: not at once
    assert not records["now"].superseded
    assert r.next_due(records) == T0 + timedelta(seconds=60)
    notes, changed = r.transitions(records, T0 + timedelta(seconds=60))
    assert notes == [
        {"controlId": "new", "started": True, "timestamp": at(60), "supersededIds": ["now"]}
    ]
    assert records["now"].superseded and set(changed) == {"now", "new"}
    # R04.FR.22: expiry
    notes, _ = r.transitions(records, T0 + timedelta(seconds=95))
    assert notes == [{"controlId": "new", "started": False, "timestamp": at(90)}]
    assert records["new"].ended
    assert r.transitions(records, T0 + timedelta(seconds=200)) == ([], [])


def test_scheduled_control_wins_over_default_while_active() -> None:
    records: dict[str, r.DerRecord] = {}
    r.add(records, rec(trip("dflt", 1)), T0)
    r.add(records, rec(trip("sched", 9, default=False, startTime=at(10), duration=10)), T0)
    ids = [d["controlId"] for d in r.in_force(records, T0)]
    assert ids == ["dflt"]
    assert [d["controlId"] for d in r.in_force(records, T0 + timedelta(seconds=15))] == ["sched"]
    assert [d["controlId"] for d in r.in_force(records, T0 + timedelta(seconds=25))] == ["dflt"]


def test_record_survives_json_round_trip() -> None:
    x = rec(trip("a", 1, default=False, startTime=at(5)))
    x.supersede_at_start = ["b"]
    assert r.DerRecord.from_json(x.to_json()) == x


def test_r04_fr31_fr32_report_chunks_with_tbc() -> None:
    found = [rec(trip(f"c{i:02d}", 1)) for i in range(20)]
    msgs = report_payloads(7, found)
    assert [m.get("tbc", False) for m in msgs] == [True, False]
    assert all(m["requestId"] == 7 for m in msgs)
    items = [c for m in msgs for c in m["curve"]]
    assert [c["id"] for c in items] == [f"c{i:02d}" for i in range(20)]
    assert items[0]["curveType"] == "HFMustTrip" and items[0]["isSuperseded"] is False
