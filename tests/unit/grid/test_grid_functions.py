"""Table tests per function, expected values worked out by hand in the comments."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.grid.curves import validate_points
from hal.grid.enter_service import EnterService, EnterServiceSpec, Phase
from hal.grid.fixed_pf import FixedVarSpec, fixed_var, pf_to_var
from hal.grid.freq_droop import DroopReference, FreqDroop, FreqDroopSpec, droop_delta_w
from hal.grid.hysteresis import Hysteresis, HysteresisSpec
from hal.grid.mean_overvoltage import MeanOverVoltage
from hal.grid.momentary_cessation import MomentaryCessation
from hal.grid.must_trip import Direction, make_stage_curve
from hal.grid.volt_var import VoltVar, VoltVarSpec
from hal.grid.volt_watt import WattCurve, WattCurveSpec, der_pct_to_station_w
from hal.grid.watt_var import watt_pf_var, watt_var_pct

EU = FreqDroopSpec(50.2, 49.8, 0.05, 0.05, 2.0)
US = FreqDroopSpec(60.036, 59.964, 0.05, 0.05, 5.0)


@pytest.mark.parametrize(
    ("f", "expected_w"),
    [
        (50.0, 0.0),
        (50.2, 0.0),  # start point itself: no change
        (50.3, 400.0),  # 0.1 / (50 * 0.05) * 10 kW = 0.04 * 10 kW
        (50.7, 2000.0),  # 0.5 / 2.5 = 20 % of Pref: 40 % per Hz at 5 % droop
        (49.8, 0.0),
        (49.7, -400.0),  # LFSM-U: toward discharge
        (49.3, -2000.0),
    ],
)
def test_eu_droop_table(f: float, expected_w: float) -> None:
    assert droop_delta_w(EU, f, 50.0, 10000.0) == pytest.approx(expected_w)


@pytest.mark.parametrize(
    ("f", "pu"),
    [(60.036, 0.0), (60.5, 0.464 / 3.0), (61.0, 0.964 / 3.0), (59.5, -0.464 / 3.0)],
)
def test_ieee_droop_per_unit_of_rating(f: float, pu: float) -> None:
    # IEEE 1547: P = P0 - (f - (60 + 0.036)) / (60 * 0.05) pu, station sign flips it
    assert droop_delta_w(US, f, 60.0, 10000.0) == pytest.approx(pu * 10000.0)


@settings(max_examples=200, deadline=None)
@given(st.floats(40.0, 60.0), st.floats(40.0, 60.0), st.floats(0.0, 1e5))
def test_droop_is_monotone_in_frequency(f1: float, f2: float, pref: float) -> None:
    lo, hi = sorted((f1, f2))
    assert droop_delta_w(EU, lo, 50.0, pref) <= droop_delta_w(EU, hi, 50.0, pref)


def test_activation_reference_is_power_at_activation_vde() -> None:
    d = FreqDroop(EU, 50.0, 11000.0, DroopReference.ACTIVATION)
    d.update(50.0, 4000.0, 0.0)
    d.update(50.7, 4000.0, 0.01)  # activates: Pref = |4 kW|
    assert d.target_w == pytest.approx(0.2 * 4000.0)
    d.update(50.7, 9000.0, 0.02)  # measured power moves, Pref stays frozen
    assert d.target_w == pytest.approx(0.2 * 4000.0)


def test_droop_response_reaches_90_percent_in_response_time() -> None:
    d = FreqDroop(EU, 50.0, 10000.0, DroopReference.RATED)
    d.update(50.0, 0.0, 0.0)
    out = [d.update(50.7, 0.0, k * 0.01) for k in range(1, 400)]
    k90 = next(k for k, y in enumerate(out, start=1) if y >= 0.9 * 2000.0 - 1e-6)
    assert abs(k90 * 0.01 - 2.0) <= 0.01 + 1e-9


@pytest.mark.parametrize(
    ("v", "vref", "q"),
    [
        (92.0, 100.0, 44.0),
        (95.0, 100.0, 22.0),
        (100.0, 100.0, 0.0),
        (105.0, 100.0, -22.0),
        (108.0, 100.0, -44.0),
        (104.04, 102.0, 0.0),
        (107.1, 102.0, -22.0),
    ],
)
def test_volt_var_with_vref(v: float, vref: float, q: float) -> None:
    # the curve is read at V * 100 / vRef: 107.1 / 1.02 = 105 -> -22 %
    pts = validate_points([(92.0, 44.0), (98.0, 0.0), (102.0, 0.0), (108.0, -44.0)])
    vv = VoltVar(VoltVarSpec(pts, 0.0, vref))
    assert vv.update(v, 0.0) == pytest.approx(q)


def test_autonomous_vref_follows_voltage_and_recentres_the_curve() -> None:
    pts = validate_points([(92.0, 44.0), (98.0, 0.0), (102.0, 0.0), (108.0, -44.0)])
    vv = VoltVar(VoltVarSpec(pts, 0.0, 100.0, True, 300.0))
    first = vv.update(105.0, 0.0)
    assert first == pytest.approx(-22.0)
    for k in range(1, 3001):
        last = vv.update(105.0, k * 1.0)
    assert vv.vref_pct == pytest.approx(105.0, abs=0.01)
    assert last == pytest.approx(0.0, abs=0.1)


def test_volt_watt_limits_injection_ieee_default() -> None:
    # (106, 100) -> (110, 0): at 108 % the unit may inject 50 % of rated
    w = WattCurve(WattCurveSpec(validate_points([(106.0, 100.0), (110.0, 0.0)]), 0.0), 100.0)
    assert w.update(100.0, 0.0) == pytest.approx(100.0)
    assert w.update(108.0, 0.1) == pytest.approx(50.0)
    assert der_pct_to_station_w(50.0, 11000.0, 10000.0) == pytest.approx(-5000.0)
    assert der_pct_to_station_w(-20.0, 11000.0, 10000.0) == pytest.approx(2200.0)


@pytest.mark.parametrize(
    ("p", "pf", "absorbing", "q"),
    [
        (10000.0, 1.0, False, 0.0),
        (-10000.0, 0.9, False, 4843.2),
        (10000.0, 0.9, True, -4843.2),
        (6000.0, 0.8, True, -4500.0),
    ],
)
def test_fixed_power_factor(p: float, pf: float, absorbing: bool, q: float) -> None:
    # Q = |P| tan(acos(pf)): tan(acos 0.9) = 0.48432, tan(acos 0.8) = 0.75
    assert pf_to_var(p, pf, absorbing) == pytest.approx(q, abs=0.1)


def test_fixed_var_and_watt_curves() -> None:
    assert fixed_var(FixedVarSpec(-30.0), 5000.0) == pytest.approx(-1500.0)
    wv = validate_points([(0.0, 0.0), (50.0, 0.0), (100.0, -44.0)])
    assert watt_var_pct(wv, 75.0) == pytest.approx(-22.0)
    wpf = validate_points([(0.0, 1.0), (50.0, 1.0), (100.0, 0.9)])
    # at 100 % output, pf 0.9 absorbing (positive y): Q = -|P| * 0.48432
    assert watt_pf_var(wpf, 100.0, -10000.0) == pytest.approx(-4843.2, abs=0.1)


def test_mean_overvoltage_trips_only_on_the_mean() -> None:
    # EN 50549-1 4.9.3.4: 1.10 Un as a 10-minute mean, recomputed every 3 s
    m = MeanOverVoltage(110.0, 0.0)
    dt = 0.1

    def level(t: float) -> float:
        if t < 20.0:
            return 120.0  # a 20 s spike: well above 110 % but the mean stays below
        if t < 620.0:
            return 109.0  # just under the threshold for 10 minutes
        return 112.0

    fired_at = None
    for k in range(round(1300.0 / dt)):
        t = k * dt
        if m.update((level(t), 100.0, 100.0), t):
            fired_at = t
            break
        if t < 620.0:
            # mean at 600 s: (20 * 120 + 580 * 109) / 600 = 109.37 % < 110 %
            assert max(m.mean_pct or (0.0,)) < 110.0
    assert fired_at is not None
    # at 620 + x s the window holds (600 - x) s of 109 % and x s of 112 %:
    # (600 - x) * 109 + 112 x > 600 * 110  <=>  x > 200 s; one 3-s block of lag at most
    assert 820.0 <= fired_at <= 820.0 + 6.2


def test_enter_service_waits_delay_then_ramps_at_rate() -> None:
    spec = EnterServiceSpec(91.7, 105.0, 59.5, 60.1, 300.0, 0.0, 300.0)
    es = EnterService(spec, random.Random(1))
    assert es.update((100.0,) * 3, 60.0, 0.0) == 0.0
    assert es.update((100.0,) * 3, 60.0, 299.9) == 0.0
    assert es.update((100.0,) * 3, 60.0, 300.0) == pytest.approx(0.0)
    assert es.update((100.0,) * 3, 60.0, 450.0) == pytest.approx(0.5)  # 150 s of 300 s
    assert es.update((100.0,) * 3, 60.0, 600.0) == pytest.approx(1.0)
    assert es.phase is Phase.IN_SERVICE


def test_enter_service_excursion_restarts_the_delay() -> None:
    es = EnterService(EnterServiceSpec(85.0, 110.0, 49.9, 50.1, 60.0, 0.0, 0.0), random.Random(1))
    es.update((100.0,) * 3, 50.0, 0.0)
    es.update((100.0,) * 3, 50.15, 30.0)  # frequency outside: restart
    assert es.update((100.0,) * 3, 50.0, 31.0) == 0.0
    assert es.update((100.0,) * 3, 50.0, 90.9) == 0.0
    assert es.update((100.0,) * 3, 50.0, 91.0) == 1.0


def test_enter_service_random_delay_is_seeded_and_bounded() -> None:
    spec = EnterServiceSpec(85.0, 110.0, 49.9, 50.1, 10.0, 20.0, 0.0)
    starts = []
    for seed in (1, 2, 1):
        es = EnterService(spec, random.Random(seed))
        t = 0.0
        while es.update((100.0,) * 3, 50.0, t) == 0.0:
            t += 0.1
        starts.append(t)
    assert starts[0] == starts[2]  # same seed, same delay
    assert all(10.0 <= s <= 30.1 for s in starts)


def test_momentary_cessation_resumes_when_back_in_range() -> None:
    mc = MomentaryCessation(
        make_stage_curve("LVMomCess", Direction.UNDER, [(0.0, 50.0)], (0, 100), "%")
    )
    assert not mc.update((100.0,) * 3, 0.0)
    assert mc.update((40.0, 100.0, 100.0), 0.01)
    assert mc.update((45.0, 100.0, 100.0), 0.5)
    assert not mc.update((60.0, 100.0, 100.0), 0.51)


def test_hysteresis_holds_then_ramps_back() -> None:
    h = Hysteresis(HysteresisSpec(49.8, 50.2, 10.0, 10.0))  # 10 s hold, 10 %/s back
    assert h.update(50.6, 60.0, 0.0) == 60.0  # event: follows the curve
    assert h.update(50.1, 100.0, 1.0) == 60.0  # back in band: held
    assert h.update(50.1, 100.0, 10.9) == 60.0
    assert h.update(50.1, 100.0, 11.0) == pytest.approx(60.0)
    assert h.update(50.1, 100.0, 13.0) == pytest.approx(80.0)  # 2 s * 10 %/s
    assert h.update(50.1, 100.0, 20.0) == pytest.approx(100.0)
    assert not h.in_event


@settings(max_examples=100, deadline=None)
@given(
    st.floats(-1e6, 1e6),
    st.floats(0.001, 1.0),
    st.booleans(),
)
def test_pf_to_var_never_nan(p: float, pf: float, absorbing: bool) -> None:
    q = pf_to_var(p, pf, absorbing)
    assert math.isfinite(q)
    assert (q <= 0.0) if absorbing else (q >= 0.0)
