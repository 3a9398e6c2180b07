"""Command parsing, acceptance and the handler (evse/api/commands.py, acceptance.py,
handler.py): issue 14 "Commands in": every command gets a reply with its correlation id;
malformed, oversized, wrong-typed, out-of-range, expired, retained and unknown-EVSE
commands get an error reply and change nothing; setpoints only under Q05
ExternalSetpoint, limits only under Q06 ExternalLimits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evse.api.acceptance import EvseFacts
from evse.api.commands import Bounds, CommandError, Limits, Setpoint, parse
from evse.api.ems_inputs import EmsInputs
from evse.api.handler import CommandHandler, Incoming, Rating
from evse.api.topics import Topics
from evse.energy.operation_modes import EmsInput

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
B = Bounds(max_payload_bytes=4096, max_expiry_s=900.0, max_charge_w=11000.0,
           max_discharge_w=7000.0)


def _p(name: str, doc: Any) -> Any:
    return parse(name, json.dumps(doc).encode(), B, NOW)


def test_setpoint_and_limits_parse_with_either_expiry() -> None:
    assert _p("setpoint", {"id": "a", "w": -3000, "expires_in_s": 60}).command == Setpoint(
        -3000.0, 60.0)
    at = (NOW + timedelta(seconds=120)).isoformat().replace("+00:00", "Z")
    got = _p("limits", {"max_charge_w": 5000, "max_discharge_w": 0, "expires_at": at})
    assert got.command == Limits(5000.0, 0.0, 120.0) and got.corr_id is None


@pytest.mark.parametrize(
    ("name", "payload", "code"),
    [
        ("setpoint", b"{not json", "malformed"),
        ("setpoint", b"[1, 2]", "malformed"),
        ("setpoint", b"\xff\xfe", "malformed"),
        ("setpoint", b'{"w": NaN, "expires_in_s": 5}', "malformed"),
        ("setpoint", b"[" * 2000 + b"]" * 2000, "malformed"),
        ("setpoint", b" " * 5000, "too_large"),
        ("launch", b"{}", "unknown_command"),
        ("setpoint", b'{"w": 1000, "expires_in_s": 5, "turbo": true}', "unknown_field"),
        ("setpoint", b'{"expires_in_s": 5}', "missing_field"),
        ("setpoint", b'{"w": 1000}', "missing_field"),
        ("setpoint", b'{"w": "1000", "expires_in_s": 5}', "wrong_type"),
        ("setpoint", b'{"w": true, "expires_in_s": 5}', "wrong_type"),
        ("setpoint", b'{"id": 7, "w": 1, "expires_in_s": 5}', "wrong_type"),
        ("setpoint", b'{"w": 12000, "expires_in_s": 5}', "out_of_range"),
        ("setpoint", b'{"w": -7001, "expires_in_s": 5}', "out_of_range"),
        ("setpoint", b'{"w": 1e400, "expires_in_s": 5}', "out_of_range"),
        ("setpoint", b'{"w": 1, "expires_in_s": 901}', "out_of_range"),
        ("setpoint", b'{"w": 1, "expires_in_s": 0}', "expired"),
        ("setpoint", b'{"w": 1, "expires_at": "2026-12-02T00:59:59Z"}', "expired"),
        ("setpoint", b'{"w": 1, "expires_at": "2026-12-02T01:01:00"}', "wrong_type"),
        ("setpoint", b'{"w": 1, "expires_in_s": 5, "expires_at": "2026-12-02T01:01:00Z"}',
         "missing_field"),
        ("limits", b'{"max_charge_w": -1, "max_discharge_w": 0, "expires_in_s": 5}',
         "out_of_range"),
        ("enable", b'{"enabled": "yes"}', "wrong_type"),
        ("charge", b'{"allowed": "go"}', "wrong_type"),
    ],
)
def test_bad_command_is_a_clear_error(name: str, payload: bytes, code: str) -> None:
    with pytest.raises(CommandError) as err:
        parse(name, payload, B, NOW)
    assert err.value.code == code and err.value.reason


class Station:
    """Records what a command asked of the station (StationControl)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None, bool]] = []

    def set_allowed(self, evse_id: int, allowed: bool, reason: str) -> None:
        self.calls.append(("allowed", evse_id, allowed))

    def set_operative(self, evse_id: int | None, operative: bool) -> None:
        self.calls.append(("operative", evse_id, operative))


T = Topics("evse")
RATINGS = {1: Rating(11000.0, 7000.0)}


def _handler() -> tuple[CommandHandler, EmsInputs, Station, list[int]]:
    ems, st, pokes = EmsInputs(), Station(), []
    h = CommandHandler(T, ems, st, lambda: pokes.append(1), 4096, 900.0)
    return h, ems, st, pokes


def _send(h: CommandHandler, topic: str, doc: Any, mode: str | None = "ExternalSetpoint",
          free_vend: bool = True, **kw: Any) -> dict[str, Any]:
    facts = {1: EvseFacts(mode, free_vend)}
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    out = h.handle(Incoming(topic, payload, **kw), facts, RATINGS, 100.0, NOW)
    assert out is not None and not out.retain
    reply: dict[str, Any] = json.loads(out.payload)
    reply["_topic"] = out.topic
    reply["_corr"] = out.correlation
    return reply


def test_q05_setpoint_under_external_setpoint_sets_the_ems_input_and_replies() -> None:
    h, ems, _, pokes = _handler()
    r = _send(h, "evse/evse/1/set/setpoint", {"id": "c1", "w": 4200, "expires_in_s": 30})
    assert r["ok"] is True and r["id"] == "c1" and r["_topic"] == "evse/evse/1/reply"
    assert ems.ems_input(1, 100.0) == EmsInput(setpoint_w=4200.0) and pokes == [1]


def test_q06_limits_under_external_limits_set_the_range() -> None:
    h, ems, _, _ = _handler()
    doc = {"id": "c2", "max_charge_w": 3000, "max_discharge_w": 2000, "expires_in_s": 30}
    r = _send(h, "evse/evse/1/set/limits", doc, mode="ExternalLimits")
    assert r["ok"] is True
    assert ems.ems_input(1, 100.0) == EmsInput(min_w=-2000.0, max_w=3000.0)


@pytest.mark.parametrize(
    ("cmd", "doc", "mode"),
    [
        ("setpoint", {"w": 1000, "expires_in_s": 30}, "ExternalLimits"),
        ("setpoint", {"w": 1000, "expires_in_s": 30}, "CentralSetpoint"),
        ("setpoint", {"w": 1000, "expires_in_s": 30}, None),
        ("limits", {"max_charge_w": 1, "max_discharge_w": 0, "expires_in_s": 30},
         "ExternalSetpoint"),
    ],
)
def test_q05_q06_not_in_the_mode_in_force_is_refused_with_the_reason(
    cmd: str, doc: dict[str, Any], mode: str | None
) -> None:
    h, ems, st, pokes = _handler()
    r = _send(h, f"evse/evse/1/set/{cmd}", {"id": "x", **doc}, mode=mode)
    assert r["ok"] is False and r["error"] == "not_allowed" and r["id"] == "x"
    assert "operation mode in force" in r["reason"]
    assert ems.ems_input(1, 100.0) is None and pokes == [] and st.calls == []


def test_bad_input_changes_nothing_and_the_reply_carries_the_id() -> None:
    h, ems, st, pokes = _handler()
    _send(h, "evse/evse/1/set/setpoint", {"w": 1000, "expires_in_s": 30})
    bad = [
        ("evse/evse/1/set/setpoint", {"id": "b1", "w": 99999, "expires_in_s": 30}, {}),
        ("evse/evse/1/set/setpoint", {"id": "b2", "w": 5, "expires_in_s": 30, "x": 1}, {}),
        ("evse/evse/1/set/setpoint", {"id": "b3", "w": 5, "expires_in_s": -1}, {}),
        ("evse/evse/1/set/setpoint", {"id": "b4", "w": 5, "expires_in_s": 30},
         {"retain": True}),
        ("evse/evse/2/set/setpoint", {"id": "b5", "w": 5, "expires_in_s": 30}, {}),
        ("evse/evse/abc/set/enable", {"id": "b6", "enabled": False}, {}),
    ]
    codes = []
    for topic, doc, kw in bad:
        r = _send(h, topic, doc, **kw)
        assert r["ok"] is False
        codes.append((r["id"], r["error"]))
    assert codes == [("b1", "out_of_range"), ("b2", "unknown_field"), ("b3", "expired"),
                     (None, "retained"), ("b5", "unknown_evse"), ("b6", "unknown_evse")]
    assert ems.ems_input(1, 100.0) == EmsInput(setpoint_w=1000.0)  # the good one stands
    assert st.calls == [] and pokes == [1] and h.refused == 6
    malformed = _send(h, "evse/evse/1/set/setpoint", b"{oops")
    assert malformed["error"] == "malformed" and malformed["id"] is None
    stray = _send(h, "evse/evse/abc/set/enable", {"enabled": True})
    assert stray["_topic"] == "evse/reply"


def test_mqtt5_response_topic_and_correlation_data_are_honoured() -> None:
    h, _, _, _ = _handler()
    r = _send(h, "evse/evse/1/set/setpoint", {"w": 10, "expires_in_s": 3},
              response_topic="ems/replies/7", correlation=b"\x01\x02")
    assert r["_topic"] == "ems/replies/7" and r["_corr"] == b"\x01\x02" and r["ok"]


def test_enable_and_free_vend_start_stop_reach_the_station() -> None:
    h, _, st, _ = _handler()
    assert _send(h, "evse/evse/1/set/enable", {"enabled": False})["ok"]
    assert _send(h, "evse/evse/1/set/charge", {"allowed": False})["ok"]
    assert _send(h, "evse/evse/1/set/charge", {"allowed": True})["ok"]
    assert st.calls == [("operative", 1, False), ("allowed", 1, False), ("allowed", 1, True)]
    r = _send(h, "evse/evse/1/set/charge", {"allowed": True}, free_vend=False)
    assert r["error"] == "not_allowed" and len(st.calls) == 3


def test_clear_withdraws_the_ems_input() -> None:
    h, ems, _, pokes = _handler()
    _send(h, "evse/evse/1/set/setpoint", {"w": 1000, "expires_in_s": 30})
    assert _send(h, "evse/evse/1/set/clear", {})["ok"]
    assert ems.ems_input(1, 100.0) is None and pokes == [1, 1]


def test_other_topics_are_not_commands() -> None:
    h, _, _, _ = _handler()
    facts = {1: EvseFacts("ExternalSetpoint", True)}
    for topic in ("evse/evse/1/status", "evse/evse/1/set", "other/evse/1/set/setpoint"):
        assert h.handle(Incoming(topic, b"{}"), facts, RATINGS, 0.0, NOW) is None
