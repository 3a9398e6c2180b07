"""The `iso15118` check's `target_min_w` / `target_max_w` (docs/scenarios.md): the power
the SECC offered the car in each ChargeLoopRes of the window, all phases, in W; how the
ac_bpt_local_frequency scenario sees hal's LocalFrequency (OCPP 2.1 Q08) reach an AC car."""

from __future__ import annotations

from typing import Any

import pytest

from evse.sim.scenario.checks import charge_loop_target_w, judge
from evse.sim.scenario.model import Check


def _res(t: float, per_phase: tuple[int, int]) -> dict[str, Any]:
    value, exp = per_phase
    p = {"Value": value, "Exponent": exp}
    mode = {"EVSETargetActivePower": p, "EVSETargetActivePower_L2": p,
            "EVSETargetActivePower_L3": p, "EVSEPresentActivePower": {"Value": 1, "Exponent": 0}}
    return {"t": t, "src": "iso15118", "kind": "v2g", "evse": 1, "dir": "rx",
            "msg": "AC_ChargeLoopRes",
            "fields": {"ResponseCode": "OK", "BPT_Dynamic_AC_CLResControlMode": mode}}


def _check(**params: Any) -> Check:
    return Check(kind="iso15118", from_s=10.0, to_s=20.0, say="",
                 params={"msg": "AC_ChargeLoopRes", **params})


def test_charge_loop_target_sums_the_phases_in_watts() -> None:
    assert charge_loop_target_w(_res(0.0, (-6667, -1))["fields"]) == pytest.approx(-2000.1)
    assert charge_loop_target_w({"ResponseCode": "OK"}) is None


def test_Q08_every_charge_loop_target_in_the_window_within_the_range() -> None:
    trace = [_res(5.0, (0, 0)), _res(11.0, (-667, 0)), _res(12.0, (-6600, -1)),
             _res(25.0, (0, 0))]
    v = judge(_check(target_min_w=-2500.0, target_max_w=-1500.0), trace)
    assert v.ok, v.detail
    trace.insert(3, _res(13.0, (0, 0)))  # one answer offers the baseline: fails
    v = judge(_check(target_min_w=-2500.0, target_max_w=-1500.0), trace)
    assert not v.ok and "target -2001..0 W in 3 seen" in v.detail
    assert not judge(_check(target_max_w=0.0), [_res(5.0, (0, 0))]).ok  # none in the window
