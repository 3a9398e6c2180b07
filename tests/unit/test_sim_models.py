"""The simulated hardware: power stage, meter, grid profile and MCU behave as specified."""

from __future__ import annotations

import math

import pytest

from hal.config_reader import Table
from hal.devices.base import CpState, PowerStageRating
from hal.sim.grid import SimGrid, parse_grid_profile
from hal.sim.mcu import McuModel, SimMcu
from hal.sim.meter import SimMeter
from hal.sim.power_stage import PowerStageModel, SimPowerStage

RATING = PowerStageRating(max_charge_w=11000.0, max_discharge_w=7000.0, max_var=3000.0, phases=3)


def _stage(tau: float = 0.2, rate: float = 1e9) -> SimPowerStage:
    s = SimPowerStage(PowerStageModel(RATING, tau, rate), now=0.0)
    s.enabled = True
    return s


def test_stage_first_order_response() -> None:
    s = _stage(tau=0.2)
    s.command(10000.0, 0.0)
    s.advance(0.2)  # one time constant: 1 - 1/e of the step
    assert s.active_w == pytest.approx(10000.0 * (1 - math.exp(-1)), rel=1e-9)


def test_stage_rate_limit() -> None:
    s = _stage(tau=0.001, rate=5000.0)
    s.command(10000.0, 0.0)
    t = 0.0
    for _ in range(10):
        t += 0.1
        s.advance(t)
    # 1 s at 5 kW/s reaches 5 kW, not the 10 kW setpoint
    assert s.active_w == pytest.approx(5000.0, rel=1e-6)


def test_stage_clamps_to_rating_both_ways() -> None:
    s = _stage()
    s.command(50000.0, 1e6)
    assert (s.setpoint_w, s.reactive_setpoint_var) == (11000.0, 3000.0)
    s.command(-50000.0, -1e6)
    assert (s.setpoint_w, s.reactive_setpoint_var) == (-7000.0, -3000.0)


def test_stage_disabled_delivers_nothing() -> None:
    s = _stage(tau=0.01)
    s.enabled = False
    s.command(10000.0, 0.0)
    s.advance(1.0)
    assert s.active_w == 0.0


def test_stage_output_is_zero_the_sample_its_contactor_opens() -> None:
    """No current through an open contactor: no decaying tail after the opening."""
    s = _stage(tau=0.2)
    s.command(-7000.0, 2000.0)
    s.advance(2.0)
    assert s.active_w < -6900.0 and s.reactive_var > 1900.0
    s.enabled = False  # the MCU opened the contactor
    s.advance(2.02)
    assert (s.active_w, s.reactive_var) == (0.0, 0.0)


def test_meter_integrates_import_and_export() -> None:
    m = SimMeter(3, now=0.0)
    m.advance(0.0, 3600.0)  # power known at t=0
    m.advance(3600.0, 3600.0)  # 3.6 kW for one hour: 3600 Wh
    assert m.import_wh == pytest.approx(3600.0)
    m.advance(7200.0, -3600.0)  # linear +3.6 -> -3.6 kW: 900 Wh each way
    assert m.import_wh == pytest.approx(4500.0)
    assert m.export_wh == pytest.approx(900.0)
    m.advance(10800.0, -3600.0)
    assert m.export_wh == pytest.approx(4500.0)
    r = m.reading((230.0, 230.0, 230.0), 50.0, -3600.0, 0.0)
    assert r.total_w == pytest.approx(-3600.0)
    assert r.current_a[0] == pytest.approx(1200.0 / 230.0)


def _grid(events: list[dict[str, object]]) -> SimGrid:
    prof = parse_grid_profile(Table({"events": events}, "sim.grid"), 230.0, 50.0, 3)
    return SimGrid(prof, start=100.0)


def test_grid_step_and_ramp() -> None:
    g = _grid(
        [
            {"kind": "ramp", "at_s": 10.0, "duration_s": 2.0, "frequency_hz": 50.2},
            {"kind": "step", "at_s": 20.0, "voltage_v": [253.0, 230.0, 230.0]},
        ]
    )
    assert g.sample(105.0).frequency_hz == 50.0
    assert g.sample(111.0).frequency_hz == pytest.approx(50.1)
    assert g.sample(115.0).frequency_hz == pytest.approx(50.2)
    assert g.sample(119.99).voltage_v == (230.0, 230.0, 230.0)
    assert g.sample(120.0).voltage_v == (253.0, 230.0, 230.0)


def _mcu(**kw: float | None) -> SimMcu:
    model = McuModel(
        plug_in_at_s=kw.get("plug", 1.0),
        unplug_at_s=kw.get("unplug"),
        pp_ampacity_a=32.0,
        contactor_delay_s=0.03,
        keepalive_timeout_s=2.0,
    )
    return SimMcu(model, now=0.0)


def test_mcu_pilot_states_follow_the_ev() -> None:
    m = _mcu()
    m.advance(0.5, None)
    assert m.cp_state is CpState.A
    m.advance(1.5, None)
    assert m.cp_state is CpState.B  # plugged, no PWM yet (X1)
    m.set_pwm(5.0, 1.6)
    assert m.cp_state is CpState.C  # PWM on: the EV closes S2
    m.set_pwm(0.0, 1.7)
    assert m.cp_state is CpState.F


def test_mcu_contactor_confirms_after_delay_only_in_c() -> None:
    m = _mcu(plug=0.0)
    m.keepalive(0.0)
    m.request_contactor(True, 0.0)
    m.advance(0.1, None)
    assert not m.contactor_closed  # state B: refused
    m.set_pwm(5.0, 0.1)
    m.advance(0.11, None)
    assert not m.contactor_closed  # mechanical delay not over
    m.advance(0.14, None)
    assert m.contactor_closed


def test_mcu_opens_by_itself_without_keepalive() -> None:
    m = _mcu(plug=0.0)
    m.set_pwm(5.0, 0.0)
    m.request_contactor(True, 0.0)
    m.advance(0.1, None)
    assert m.contactor_closed
    m.advance(1.95, None)
    assert m.contactor_closed  # keep-alive of t=0 still within 2 s
    m.advance(2.05, None)
    assert not m.contactor_closed


def test_mcu_stays_open_after_keepalive_loss_until_asked_again() -> None:
    """A link that comes back does not re-close the contactor by itself: hal must ask
    (and so sees it open first, and reports it)."""
    m = _mcu(plug=0.0)
    m.set_pwm(5.0, 0.0)
    m.request_contactor(True, 0.0)
    m.advance(0.1, None)
    m.advance(2.05, None)
    assert not m.contactor_closed
    m.keepalive(2.1)  # hal is back
    m.advance(2.2, None)
    assert not m.contactor_closed
    m.request_contactor(True, 2.2)
    m.advance(2.3, None)
    assert m.contactor_closed


def test_mcu_opens_when_ev_unplugs() -> None:
    m = _mcu(plug=0.0, unplug=1.0)
    m.keepalive(0.5)
    m.set_pwm(5.0, 0.0)
    m.request_contactor(True, 0.0)
    m.advance(0.5, None)
    assert m.contactor_closed
    m.advance(1.0, None)
    assert m.cp_state is CpState.A and not m.contactor_closed
