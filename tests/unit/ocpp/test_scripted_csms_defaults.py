"""The scripted CSMS's default answers must pass the CSMS's own schema check: a test
CSMS that answers NotifyEVChargingNeeds with `{}` breaks every -20 session it sees."""

from __future__ import annotations

import asyncio

import pytest

from evse.ocpp.clock import RealClock
from evse.ocpp.schemas import OcppVersion, SchemaRegistry
from evse.sim.csms import default_responses


@pytest.mark.parametrize("version", [OcppVersion.V21, OcppVersion.V201])
def test_default_answers_are_schema_valid(version: OcppVersion) -> None:
    schemas = SchemaRegistry().for_version(version)
    answers = default_responses(RealClock())
    assert "NotifyEVChargingNeeds" in answers
    for action, responder in answers.items():
        if not schemas.knows(action):
            continue  # a 2.1-only action under 2.0.1
        payload = responder({}) if callable(responder) else responder
        assert not asyncio.iscoroutine(payload)
        problem = schemas.check(action, "Response", payload)
        assert problem is None, f"{action}: {problem}"
