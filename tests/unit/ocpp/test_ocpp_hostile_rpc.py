"""Hostile frames into the sans-IO RPC core (issue 10): every CALL gets an answer with
its own id and the right OCPP-J 4.3 code, nothing raises, every frame we build can be
sent, and nothing read from the network reaches a file name, a recursion or an unbounded
number."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evse.ocpp.rpc import CallReceived, ErrorReceived, RpcSession
from evse.ocpp.schemas import OcppVersion, SchemaRegistry


def session(version: OcppVersion = OcppVersion.V21) -> RpcSession:
    return RpcSession(SchemaRegistry().for_version(version), call_timeout=30.0)


def only_frame(out: list[str]) -> list[Any]:
    assert len(out) == 1, out
    out[0].encode("ascii")  # sendable whatever the peer put in its strings
    return list(json.loads(out[0]))


def deep(n: int, leaf: str = "0") -> str:
    return "[" * n + leaf + "]" * n


def test_ocppj_4_3_long_action_name_is_not_implemented_not_a_file_name() -> None:
    s = session()
    events, out = s.receive(json.dumps([2, "m1", "A" * 300, {}]), now=0.0)
    assert events == []
    assert only_frame(out)[:3] == [4, "m1", "NotImplemented"]


def test_schema_validator_cache_is_bounded_by_the_known_actions() -> None:
    s = session()
    s.receive(json.dumps([2, "m0", "GetVariables", {"getVariableData": []}]), now=0.0)
    before = len(s.schemas._validators)
    for i in range(2000):
        _, out = s.receive(json.dumps([2, f"u{i}", f"Unknown{i}", {}]), now=0.0)
        assert only_frame(out)[2] == "NotImplemented"
    assert len(s.schemas._validators) == before


@pytest.mark.parametrize("depth", [200, 900, 1000, 5000])
def test_ocppj_4_2_3_deeply_nested_call_is_a_format_violation(depth: int) -> None:
    s = session()
    text = f'[2,"m1","DataTransfer",{{"vendorId":"v","data":{deep(depth)}}}]'
    events, out = s.receive(text, now=0.0)
    assert events == []
    assert only_frame(out)[:3] == [4, "m1", "FormatViolation"]


@pytest.mark.parametrize("depth", [900, 1000, 5000])
def test_ocppj_4_2_3_deeply_nested_callresult_fails_our_call_with_callresulterror(
    depth: int,
) -> None:
    s = session()
    mid, _ = s.start_call("Heartbeat", {}, now=0.0)
    events, out = s.receive(f'[3,"{mid}",{{"currentTime":{deep(depth)}}}]', now=1.0)
    assert len(events) == 1 and isinstance(events[0], ErrorReceived) and events[0].local
    assert events[0].code == "FormatViolation"
    assert only_frame(out)[:3] == [5, mid, "FormatViolation"]
    assert s.outstanding is None


@pytest.mark.parametrize(
    "number", ["9" * 400, "-" + "9" * 400, "1e400", "NaN", "Infinity", "-Infinity"]
)
def test_ocppj_4_2_3_unbounded_numbers_are_a_format_violation(number: str) -> None:
    s = session()
    text = (
        '[2,"m1","GetBaseReport",{"requestId":' + number + ',"reportBase":"FullInventory"}]'
    )
    events, out = s.receive(text, now=0.0)
    assert events == []
    assert only_frame(out)[:3] == [4, "m1", "FormatViolation"]


def test_lone_surrogate_is_rejected_and_every_frame_is_sendable() -> None:
    s = session()
    text = (
        '[2,"m1","GetVariables",{"getVariableData":[{"component":{"name":"\\ud800"},'
        '"variable":{"name":"X"}}]}]'
    )
    events, out = s.receive(text, now=0.0)
    assert events == []
    assert only_frame(out)[:3] == [4, "m1", "FormatViolation"]
    # A proper surrogate pair is a real character and is accepted.
    ok = text.replace("\\ud800", "\\ud83d\\ude00").replace('"m1"', '"m2"')
    events, out = s.receive(ok, now=0.0)
    assert out == [] and isinstance(events[0], CallReceived)
    answer = s.answer(
        "m2",
        {
            "getVariableResult": [
                {
                    "attributeStatus": "UnknownComponent",
                    "component": {"name": "\U0001f600"},
                    "variable": {"name": "X"},
                }
            ]
        },
    )
    answer.encode("ascii")


def test_ocppj_4_2_3_duplicate_id_does_not_steal_the_first_calls_answer() -> None:
    s = session()
    first = '[2,"dup","GetBaseReport",{"requestId":1,"reportBase":"FullInventory"}]'
    events, out = s.receive(first, now=0.0)
    assert out == [] and isinstance(events[0], CallReceived)
    _, out = s.receive('[2,"dup","GetLocalListVersion",{}]', now=0.0)
    assert only_frame(out)[:3] == [4, "dup", "GenericError"]
    # The first CALL is still owed its answer, checked against its own schema.
    frame = json.loads(s.answer("dup", {"status": "Accepted"}))
    assert frame == [3, "dup", {"status": "Accepted"}]


def test_a_flood_of_concurrent_calls_is_answered_not_queued_without_bound() -> None:
    s = session()
    answered = 0
    for i in range(100):
        _, out = s.receive(f'[2,"c{i}","GetBaseReport",{{"requestId":{i},'
                                '"reportBase":"FullInventory"}]', now=0.0)
        if out:
            assert only_frame(out)[:3] == [4, f"c{i}", "GenericError"]
            answered += 1
    assert 0 < answered < 100
    assert len(s._incoming) <= 16


@pytest.mark.parametrize(
    "text",
    [
        "[2, 1e999]",
        '["2", "m1", "Reset", {}]',
        "\x00\x01",
        "[2," + "[" * 100000,
        '[6, "m1", "NotifyPeriodicEventStream", ' + deep(3000) + "]",
        '[3, "nobody", ' + deep(3000) + "]",
        '[4, "nobody", "X", "Y", ' + deep(3000) + "]",
    ],
)
def test_garbage_never_raises_and_never_answers_with_unsendable_text(text: str) -> None:
    s = session()
    _, out = s.receive(text, now=0.0)
    for frame in out:
        frame.encode("ascii")
        assert json.loads(frame)[0] == 4
