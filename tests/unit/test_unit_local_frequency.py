"""LocalFrequency executed by hal (OCPP 2.1 Q08): power = v2xBaseline + freq-watt(f) on
every sample, within the request's range, and on for `local_frequency_hold_s` after evse
went silent (Q11), then the normal ramp to zero."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from hal.protocol import AllowPowerOn, PilotCommand, PowerRequest, ProtocolError
from hal.sim.grid import GridEvent, GridProfile
from hal.unit import UnitTimings
from hal.unit.local_frequency import LocalFrequency
from tests.unit.hal_rig import SIM, Rig

CURVE = [
    {"frequency": 49.8, "power": 4000.0},
    {"frequency": 50.0, "power": 0.0},
    {"frequency": 50.2, "power": -4000.0},
]


def _steps(*steps: tuple[float, float]) -> Rig:
    events = tuple(GridEvent(at, "step", 0.0, None, hz) for at, hz in steps)
    sim = dataclasses.replace(SIM, grid=GridProfile(230.0, 50.0, 3, events))
    return Rig(sim=sim, timings=UnitTimings(local_frequency_hold_s=5.0))


def _lf_request(baseline: float = 1000.0, lo: float = -8000.0, hi: float = 8000.0) -> PowerRequest:
    return PowerRequest(
        1, "setpoint", baseline, lo, hi, operation_mode="LocalFrequency", baseline_w=baseline,
        freq_watt=CURVE,
    )  # fmt: skip


async def _start(rig: Rig, req: PowerRequest) -> None:
    rig.loop.on_pilot(PilotCommand(1, 5.0))
    rig.loop.on_allow(AllowPowerOn(1, True, "test"))
    rig.loop.on_power_request(req)
    await rig.run(1.0)
    assert rig.ev.mcu.contactor_closed


def test_curve_is_linear_between_points_and_flat_beyond_q08() -> None:
    lf = LocalFrequency.from_request(_lf_request(baseline=500.0))
    assert lf is not None
    assert lf.power_at(50.0) == pytest.approx(500.0)
    assert lf.power_at(50.05) == pytest.approx(-500.0)
    assert lf.power_at(49.7) == pytest.approx(4500.0)  # clamped at the first point
    assert lf.power_at(51.0) == pytest.approx(-3500.0)  # clamped at the last point
    tight = LocalFrequency.from_request(_lf_request(lo=-1000.0, hi=2000.0))
    assert tight is not None and tight.power_at(49.0) == 2000.0  # within the range


def test_q08_fr_02_a_curve_with_fewer_than_two_points_is_refused() -> None:
    bad = dataclasses.replace(_lf_request(), freq_watt=CURVE[:1])
    with pytest.raises(ProtocolError, match="2 to 20 points"):
        LocalFrequency.from_request(bad)
    with pytest.raises(ProtocolError, match="operation_mode"):
        LocalFrequency.from_request(dataclasses.replace(_lf_request(), operation_mode="Turbo"))


def test_q08_local_frequency_follows_frequency_steps_every_sample() -> None:
    async def scenario() -> None:
        rig = _steps((2.0, 49.9), (4.0, 50.1), (6.0, 50.4))
        await _start(rig, _lf_request())
        assert rig.loop.effective_w == pytest.approx(1000.0, abs=1.0)  # 50 Hz: baseline
        await rig.run(1.5)  # 2.5 s: 49.9 Hz -> 1000 + 2000
        assert rig.loop.effective_w == pytest.approx(3000.0, abs=1.0)
        assert rig.ev.stage.active_w == pytest.approx(3000.0, rel=0.01)
        await rig.run(2.0)  # 4.5 s: 50.1 Hz -> 1000 - 2000
        assert rig.ev.stage.active_w == pytest.approx(-1000.0, rel=0.01)
        await rig.run(2.0)  # 6.5 s: 50.4 Hz, beyond the curve -> 1000 - 4000
        assert rig.loop.effective_w == pytest.approx(-3000.0, abs=1.0)

    asyncio.run(scenario())


def test_q11_local_frequency_continues_for_the_hold_after_evse_went_silent() -> None:
    async def scenario() -> None:
        rig = _steps((3.0, 49.9))
        await _start(rig, _lf_request())
        rig.loop.on_link_lost()  # at 1 s; hold 5 s
        await rig.run(3.0)  # 4 s: the step at 3 s is still followed
        assert rig.loop.effective_w == pytest.approx(3000.0, abs=1.0)
        assert rig.ev.stage.active_w == pytest.approx(3000.0, rel=0.01)
        await rig.run(3.0)  # 7 s: hold over at 6 s, ramp (rated/1 s) to zero and release
        assert rig.loop.effective_w == 0.0
        assert not rig.loop.allow

    asyncio.run(scenario())


def test_without_operation_mode_link_loss_ramps_at_once_as_before() -> None:
    async def scenario() -> None:
        rig = _steps()
        await _start(rig, PowerRequest(1, "setpoint", 3000.0, 0.0, 3000.0))
        rig.loop.on_link_lost()
        await rig.run(0.5)
        assert rig.loop.effective_w == 0.0

    asyncio.run(scenario())


def test_q08_local_frequency_update_threshold_recalculates_only_past_it() -> None:
    """LocalFrequencyUpdateThreshold (Part 2 appendix: the change in net frequency that
    triggers a recalculation of the setpoint), here 50 mHz."""
    req = dataclasses.replace(_lf_request(), freq_threshold_hz=0.05)
    lf = LocalFrequency.from_request(req)
    assert lf is not None
    assert lf.power_at(50.0) == 1000.0
    assert lf.power_at(50.03) == 1000.0  # moved 30 mHz: the setpoint stays
    assert lf.power_at(49.97) == 1000.0
    assert lf.power_at(50.05) == pytest.approx(0.0, abs=1e-6)  # 50 mHz: recalculated
    assert lf.power_at(50.01) == pytest.approx(0.0, abs=1e-6)  # 40 mHz since: stays
    every = LocalFrequency.from_request(_lf_request())  # no threshold: every sample
    assert every is not None and every.power_at(50.03) == pytest.approx(400.0)
    with pytest.raises(ProtocolError):
        LocalFrequency.from_request(dataclasses.replace(req, freq_threshold_hz=-0.1))
