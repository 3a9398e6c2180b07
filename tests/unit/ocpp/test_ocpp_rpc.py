"""The sans-IO OCPP-J RPC session: framing, validation both ways, error codes, timeouts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evse.ocpp.rpc import (
    CallInProgress,
    CallReceived,
    CallTimedOut,
    ErrorReceived,
    Ignored,
    OutgoingInvalid,
    ResultErrorReceived,
    ResultReceived,
    RpcSession,
    SendReceived,
)
from evse.ocpp.schemas import OcppVersion, SchemaRegistry

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
BOOT_OK = {"currentTime": "2026-01-01T00:00:00Z", "interval": 300, "status": "Accepted"}


def session(version: OcppVersion = OcppVersion.V21) -> RpcSession:
    return RpcSession(SchemaRegistry().for_version(version), call_timeout=30.0)


def error_of(frames: list[str]) -> list[Any]:
    assert len(frames) == 1
    frame = json.loads(frames[0])
    assert frame[0] == 4 and len(frame) == 5
    return list(frame)


def test_call_result_roundtrip_keeps_camel_case() -> None:
    s = session()
    mid, frame = s.start_call("BootNotification", BOOT, now=0.0)
    assert json.loads(frame) == [2, mid, "BootNotification", BOOT]
    events, out = s.receive(json.dumps([3, mid, BOOT_OK]), now=1.0)
    assert events == [ResultReceived(mid, "BootNotification", BOOT_OK)] and out == []
    assert s.outstanding is None


def test_one_outstanding_call_at_a_time() -> None:
    s = session()
    s.start_call("Heartbeat", {}, now=0.0)
    with pytest.raises(CallInProgress):
        s.start_call("Heartbeat", {}, now=0.1)


def test_send_allowed_while_call_outstanding_and_never_answered() -> None:
    s = session()
    s.start_call("Heartbeat", {}, now=0.0)
    stream = {
        "id": 1,
        "pending": 0,
        "basetime": "2026-01-01T00:00:00Z",
        "data": [{"t": 0, "v": "1"}],
    }
    frame = json.loads(s.send("NotifyPeriodicEventStream", stream))
    assert frame[0] == 6 and frame[2] == "NotifyPeriodicEventStream"
    events, out = s.receive(json.dumps([6, "x1", "NotifyPeriodicEventStream", stream]), now=0.0)
    assert isinstance(events[0], SendReceived) and out == []
    events, out = s.receive(json.dumps([6, "x2", "NotifyPeriodicEventStream", {"id": "a"}]), 0.0)
    assert isinstance(events[0], Ignored) and out == []  # 4.2.4: never answered


def test_send_not_available_in_201() -> None:
    with pytest.raises(OutgoingInvalid):
        session(OcppVersion.V201).send("NotifyPeriodicEventStream", {"id": 1})


def test_call_times_out_on_monotonic_deadline() -> None:
    s = session()
    mid, _ = s.start_call("Heartbeat", {}, now=100.0)
    assert s.expire(129.9) == []
    assert s.expire(130.0) == [CallTimedOut(mid, "Heartbeat")]
    # A late answer matches nothing and is dropped without a reply.
    events, out = s.receive(json.dumps([3, mid, {"currentTime": "2026-01-01T00:00:00Z"}]), 131)
    assert isinstance(events[0], Ignored) and out == []


def test_outgoing_payload_is_validated() -> None:
    s = session()
    with pytest.raises(OutgoingInvalid) as exc:
        s.start_call("BootNotification", {"reason": "PowerUp"}, now=0)
    assert exc.value.code == "OccurrenceConstraintViolation"
    assert s.outstanding is None
    s.receive(json.dumps([2, "a", "Reset", {"type": "Immediate"}]), 0)
    with pytest.raises(OutgoingInvalid):
        s.answer("a", {"status": "Maybe"})
    assert json.loads(s.answer("a", {"status": "Accepted"})) == [3, "a", {"status": "Accepted"}]


def test_fields_that_the_package_mangles_survive() -> None:
    # limit_L2 / fixedPF* break in the package's snake_case round trip; we keep wire names.
    s = session()
    payload = {
        "requestId": 1,
        "chargingLimitSource": "EMS",
        "evseId": 1,
        "chargingProfile": [
            {
                "id": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 1000.0, "limit_L2": 1000.0}
                        ],
                    }
                ],
            }
        ],
    }
    _, frame = s.start_call("ReportChargingProfiles", payload, now=0)
    assert json.loads(frame)[3] == payload


@pytest.mark.parametrize(
    ("frame", "code", "mid"),
    [
        ("not json", "RpcFrameworkError", "-1"),
        ('{"a": 1}', "RpcFrameworkError", "-1"),
        ("[2]", "RpcFrameworkError", "-1"),
        ('[2, 17, "Reset", {}]', "RpcFrameworkError", "-1"),
        ('[2, "' + "x" * 37 + '", "Reset", {}]', "RpcFrameworkError", "-1"),
        ('[2, "m1", "Reset"]', "RpcFrameworkError", "m1"),
        ('[2, "m1", 5, {}]', "RpcFrameworkError", "m1"),
        ('[9, "m1", "Reset", {}]', "MessageTypeNotSupported", "m1"),
        ('[2, "m1", "NoSuchAction", {}]', "NotImplemented", "m1"),
        ('[2, "m1", "Reset", []]', "FormatViolation", "m1"),
        ('[2, "m1", "Reset", {}]', "OccurrenceConstraintViolation", "m1"),
        ('[2, "m1", "Reset", {"type": 5}]', "TypeConstraintViolation", "m1"),
        ('[2, "m1", "Reset", {"type": "Later"}]', "PropertyConstraintViolation", "m1"),
        ('[2, "m1", "Reset", {"type": "Immediate", "x": 1}]', "FormatViolation", "m1"),
        (
            '[2, "m1", "Reset", {"type": "Immediate", "evseId": -1}]',
            "PropertyConstraintViolation",
            "m1",
        ),
        (
            '[2, "m1", "ClearCache", {"customData": {"vendorId": "' + "v" * 256 + '"}}]',
            "TypeConstraintViolation",
            "m1",
        ),
        (
            '[2, "m1", "GetVariables", {"getVariableData": []}]',
            "OccurrenceConstraintViolation",
            "m1",
        ),
    ],
)
def test_invalid_incoming_call_gets_the_right_callerror(frame: str, code: str, mid: str) -> None:
    s = session()
    events, out = s.receive(frame, now=0)
    err = error_of(out)
    assert err[1] == mid and err[2] == code, err
    assert not any(isinstance(e, CallReceived) for e in events)
    # The session still works afterwards: the connection stays up.
    events, out = s.receive('[2, "ok", "Reset", {"type": "OnIdle"}]', now=0)
    assert events == [CallReceived("ok", "Reset", {"type": "OnIdle"})] and out == []


def test_action_added_in_21_is_not_implemented_in_201() -> None:
    _events, out = session(OcppVersion.V201).receive(
        '[2, "m", "SetDERControl", '
        '{"isDefault": true, "controlId": "a", "controlType": "FreqDroop"}]',
        0,
    )
    assert error_of(out)[2] == "NotImplemented"


def test_invalid_callresult_gives_callresulterror_in_21_only() -> None:
    for version, frames in ((OcppVersion.V21, 1), (OcppVersion.V201, 0)):
        s = session(version)
        mid, _ = s.start_call("Heartbeat", {}, now=0)
        events, out = s.receive(json.dumps([3, mid, {"currentTime": 7}]), now=1)
        assert isinstance(events[0], ErrorReceived) and events[0].local
        assert events[0].code == "TypeConstraintViolation"
        assert len(out) == frames
        if frames:
            assert json.loads(out[0])[:3] == [5, mid, "TypeConstraintViolation"]
        assert s.outstanding is None


def test_callerror_resolves_the_call_and_callresulterror_is_reported() -> None:
    s = session()
    mid, _ = s.start_call("Heartbeat", {}, now=0)
    events, _out = s.receive(json.dumps([4, mid, "InternalError", "boom", {"a": 1}]), now=1)
    assert events == [ErrorReceived(mid, "Heartbeat", "InternalError", "boom", {"a": 1})]
    events, _ = s.receive(json.dumps([5, "r1", "FormatViolation", "bad", {}]), now=1)
    assert events == [ResultErrorReceived("r1", "FormatViolation", "bad")]


def test_crossing_calls_are_both_handled() -> None:
    # 4.1.1 note: CALLs from both sides may cross; we answer theirs while ours is open.
    s = session()
    mid, _ = s.start_call("Heartbeat", {}, now=0)
    events, _ = s.receive('[2, "c1", "Reset", {"type": "Immediate"}]', now=0)
    assert isinstance(events[0], CallReceived)
    s.answer("c1", {"status": "Accepted"})
    events, _ = s.receive(json.dumps([3, mid, {"currentTime": "2026-01-01T00:00:00Z"}]), now=0)
    assert isinstance(events[0], ResultReceived)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.binary(max_size=80).map(lambda b: b.hex())))
def test_fuzzed_text_never_raises_and_answers_at_most_once(text: str) -> None:
    s = session()
    _events, out = s.receive(text, now=0)
    assert len(out) <= 1
    for frame in out:
        assert json.loads(frame)[0] in (4, 5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(),
            st.text(max_size=10),
            st.none(),
            st.dictionaries(st.text(), st.integers()),
        ),
        max_size=6,
    )
)
def test_fuzzed_arrays_never_raise(items: list[Any]) -> None:
    s = session()
    s.receive(json.dumps(items), now=0)
