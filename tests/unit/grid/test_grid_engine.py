"""The combined decision per sample: trip, cessation, enter service, limits, droop."""

from __future__ import annotations

import math
from typing import Any

import pytest
from gridtest_helpers import IMMEDIATE, RATING, engine, run, sample
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.grid.engine import GridAlarm, GridState


def nominal(_t: float) -> tuple[float, float]:
    return 100.0, 50.0


def test_overvoltage_trips_alarms_and_reenters_after_delay() -> None:
    eng = engine("vde-ar-n-4105", {"enter_service": {"delay_s": 5.0, "ramp_s": 0.0}})

    def grid(t: float) -> tuple[float, float]:
        return (130.0 if 10.0 <= t < 11.0 else 100.0), 50.0

    out = run(eng, 0.0, 20.0, 0.01, grid, requested_w=5000.0)
    trip_t = next(t for t, d in out if not d.contactor_allowed)
    assert 10.1 - 1e-9 <= trip_t <= 10.11 + 1e-9  # U>> 1.25 Un / 0.1 s, one sample late at most
    tripped = [d for t, d in out if not d.contactor_allowed]
    assert all(d.setpoint_w == 0.0 and d.constraint.state is GridState.TRIPPED for d in tripped)
    alarms = [(t, a) for t, d in out for a in d.alarms]
    assert alarms[0] == (
        trip_t,
        GridAlarm("HVMustTrip", "OverVoltage", False, alarms[0][1].extra_info),
    )
    # back in the window at 11.0 s, 5 s delay: service again at 16.0 s, alarm ended then
    end_t, end = alarms[1]
    assert end == GridAlarm("HVMustTrip", "OverVoltage", True, end.extra_info)
    assert 16.0 - 1e-9 <= end_t <= 16.01 + 1e-9
    assert len(alarms) == 2
    after = [d for t, d in out if t > end_t + 0.05]
    assert all(d.contactor_allowed and d.setpoint_w == pytest.approx(5000.0) for d in after)


def test_trip_with_zero_delay_still_opens_the_contactor_once() -> None:
    # a power-monitoring trip leaves the grid in the window; delay 0 must not skip the trip
    eng = engine("vde-ar-n-4105", IMMEDIATE)
    directive = {
        "id": "pm",
        "controlType": "LimitMaxDischarge",
        "isDefault": True,
        "limitMaxDischarge": {
            "priority": 0,
            "powerMonitoringMustTrip": {
                "priority": 0,
                "yUnit": "Not_Applicable",
                "curveData": [{"x": 0.5, "y": 80.0}],
            },
        },
    }
    assert eng.set_directives([directive], 0.0) == []
    out = run(eng, 0.0, 2.0, 0.01, nominal, requested_w=-9000.0, measured=lambda d: -9000.0)
    opened = [t for t, d in out if not d.contactor_allowed]
    assert opened and 0.5 - 1e-9 <= opened[0] <= 0.51 + 1e-9
    assert any(a.control_type == "PowerMonitoringMustTrip" for _, d in out for a in d.alarms)


def test_momentary_cessation_ceases_without_opening_contactor() -> None:
    eng = engine("ieee1547-cat3", IMMEDIATE)

    def grid(t: float) -> tuple[float, float]:
        return (45.0 if 1.0 <= t < 1.5 else 100.0), 60.0

    out = run(eng, 0.0, 3.0, 0.01, grid, requested_w=-8000.0, nominal_v=120.0)
    during = [d for t, d in out if 1.0 <= t < 1.5]
    assert all(d.constraint.state is GridState.CEASED and d.setpoint_w == 0.0 for d in during)
    assert all(d.contactor_allowed for _, d in out)
    assert [(a.control_type, a.ended) for _, d in out for a in d.alarms] == [
        ("LVMomCess", False),
        ("LVMomCess", True),
    ]
    assert out[-1][1].setpoint_w == pytest.approx(-8000.0)


def test_enter_service_after_power_up_waits_and_ramps() -> None:
    eng = engine("ieee1547-cat2")  # 300 s delay, 300 s ramp
    out = run(eng, 0.0, 700.0, 0.5, lambda t: (100.0, 60.0), 11000.0, nominal_v=120.0)
    by_t = dict(out)
    assert by_t[299.5].setpoint_w == 0.0
    assert by_t[299.5].constraint.state is GridState.ENTERING_SERVICE
    assert by_t[450.0].setpoint_w == pytest.approx(5500.0)  # half-way up the 300 s ramp
    assert by_t[450.0].constraint.p_max_w == pytest.approx(5500.0)
    assert by_t[650.0].setpoint_w == pytest.approx(11000.0)
    assert by_t[650.0].constraint.state is GridState.NORMAL


def test_droop_change_on_top_of_request_within_limits() -> None:
    eng = engine("vde-ar-n-4105", IMMEDIATE)

    def grid(t: float) -> tuple[float, float]:
        return 100.0, (50.7 if t >= 1.0 else 50.0)

    out = run(eng, 0.0, 12.0, 0.01, grid, requested_w=5000.0, measured=lambda d: 5000.0)
    last = out[-1][1]
    # VDE: Pref = power at activation 5 kW; 0.5 Hz over 50.2 at 5 %: +20 % of 5 kW
    assert last.setpoint_w == pytest.approx(6000.0, abs=1.0)
    assert last.constraint.p_min_w == pytest.approx(last.setpoint_w)
    assert [(a.control_type, a.grid_event_fault, a.ended) for _, d in out for a in d.alarms] == [
        ("FreqDroop", "OverFrequency", False)
    ]


def test_limit_max_discharge_and_directive_precedence() -> None:
    eng = engine("vde-ar-n-4105", IMMEDIATE)
    rejected = eng.set_directives(
        [
            {
                "id": "lmd",
                "controlType": "LimitMaxDischarge",
                "isDefault": False,
                "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 40.0},
            },
            {
                "id": "droop",
                "controlType": "FreqDroop",
                "isDefault": True,
                "freqDroop": {
                    "priority": 0,
                    "overFreq": 50.5,
                    "underFreq": 49.5,
                    "overDroop": 0.05,
                    "underDroop": 0.05,
                    "responseTime": 0.0,
                },
            },
        ],
        0.0,
    )
    assert rejected == []
    out = run(eng, 0.0, 1.0, 0.01, lambda t: (100.0, 49.7), requested_w=-9000.0)
    # 40 % of 10 kW discharge; 49.7 Hz is inside the directive's band (preset's 49.8 is not)
    assert out[-1][1].setpoint_w == pytest.approx(-4000.0)
    assert out[-1][1].constraint.p_min_w == pytest.approx(-4000.0)
    assert not any(d.alarms for _, d in out)


def test_volt_watt_limits_discharge_ieee() -> None:
    eng = engine("ieee1547-cat2", IMMEDIATE)
    # start in service at 100 % (108 % is outside the enter-service window), then 108 %
    out = run(
        eng,
        0.0,
        80.0,
        0.1,
        lambda t: (108.0 if t >= 1.0 else 100.0, 60.0),
        -10000.0,
        nominal_v=120.0,
    )
    # (106, 100) -> (110, 0): at 108 % at most 50 % of 10 kW injected
    assert out[-1][1].setpoint_w == pytest.approx(-5000.0, abs=5.0)
    assert ("VoltWatt", False) in [(a.control_type, a.ended) for _, d in out for a in d.alarms]


def test_reactive_power_volt_var_and_fixed_pf_directive() -> None:
    eng = engine("ieee1547-cat2", IMMEDIATE)
    out = run(eng, 0.0, 40.0, 0.1, lambda t: (95.0, 60.0), 0.0, nominal_v=120.0)
    # Cat B at 95 %: +22 % of 5 kvar = 1100 var injected (5 s response, 40 s settled)
    assert out[-1][1].reactive_var == pytest.approx(1100.0, abs=1.0)
    eng.set_directives(
        [
            {
                "id": "pf",
                "controlType": "FixedPFAbsorb",
                "isDefault": True,
                "fixedPFAbsorb": {"priority": 0, "displacement": 0.9, "excitation": True},
            }
        ],
        40.0,
    )
    out = run(eng, 40.0, 41.0, 0.1, lambda t: (95.0, 60.0), 6000.0, nominal_v=120.0)
    # charging 6 kW at cos phi 0.9 under-excited: Q = -6000 * 0.48432
    assert out[-1][1].reactive_var == pytest.approx(-2905.9, abs=1.0)


RIDE_THROUGH_CAT2 = [  # (duration s, V %) inside IEEE 1547 Cat II ride-through regions
    (1.0, 100.0),
    (0.15, 40.0),
    (0.31, 50.0),
    (2.9, 66.0),
    (9.0, 75.0),
    (60.0, 89.0),
    (1.9, 115.0),
    (60.0, 109.0),
    (1.0, 100.0),
]
RIDE_THROUGH_CAT3 = [  # separate excursions: UV1 (88 % / 21 s) times each one whole
    (1.0, 100.0),
    (1.9, 40.0),
    (1.0, 100.0),
    (9.0, 60.0),
    (1.0, 100.0),
    (20.0, 80.0),
    (1.0, 100.0),
    (12.0, 115.0),
    (1.0, 100.0),
    (60.0, 89.0),
    (1.0, 100.0),
]


@pytest.mark.parametrize(
    ("preset", "profile"),
    [("ieee1547-cat2", RIDE_THROUGH_CAT2), ("ieee1547-cat3", RIDE_THROUGH_CAT3)],
)
def test_ride_through_profiles_never_trip(preset: str, profile: list[tuple[float, float]]) -> None:
    eng = engine(preset, IMMEDIATE)
    edges = []
    t = 0.0
    for dur, v in profile:
        edges.append((t, t + dur, v))
        t += dur

    def grid(now: float) -> tuple[float, float]:
        for a, b, v in edges:
            if a <= now < b:
                return v, 60.0
        return 100.0, 60.0

    # frequency ride-through too: 61.5 Hz and 57.5 Hz for 299 s each (OF1/UF1 at 300 s)
    out = run(eng, 0.0, t, 0.01, grid, -5000.0, nominal_v=120.0)
    assert all(d.contactor_allowed for _, d in out)
    f_out = run(eng, t, t + 299.0, 0.1, lambda n: (100.0, 61.5), -5000.0, nominal_v=120.0)
    f_out += run(eng, t + 300.0, t + 599.0, 0.1, lambda n: (100.0, 57.5), -5000.0, 120.0)
    assert all(d.contactor_allowed for _, d in f_out)


def test_no_measurement_blocks_start_but_not_a_running_unit() -> None:
    eng = engine("vde-ar-n-4105", IMMEDIATE)
    assert eng.step(0.0, None, 5000.0, 0.0).setpoint_w == 0.0
    eng.step(0.01, sample(0.01, 100.0, 50.0, 230.0), 5000.0, 0.0)
    assert eng.step(0.02, None, 5000.0, 0.0).setpoint_w == 5000.0


grid_values = st.tuples(
    st.one_of(st.floats(0.0, 200.0), st.floats(0.0, 1e12)),
    st.one_of(st.floats(40.0, 70.0), st.floats(-1e12, 1e12)),
)
any_power = st.one_of(st.floats(-1e6, 1e6), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["vde-ar-n-4105", "en50549-1", "ieee1547-cat1", "ieee1547-cat3"]),
    st.lists(st.tuples(grid_values, any_power, any_power), min_size=1, max_size=60),
)
def test_outputs_always_in_range_and_finite(
    preset: str, steps: list[tuple[tuple[float, float], float, float]]
) -> None:
    # EN 50549-1 allows no observation time below 10 s (4.10; its [ranges]).
    quick = IMMEDIATE if preset != "en50549-1" else {"enter_service": {"delay_s": 10.0}}
    eng = engine(preset, quick)
    for k, ((v, f), req, meas) in enumerate(steps):
        d = eng.step(k * 0.05, sample(k * 0.05, v, f, 230.0), req, meas)
        values: list[Any] = [
            d.setpoint_w,
            d.reactive_var,
            d.constraint.p_min_w,
            d.constraint.p_max_w,
            d.constraint.q_var,
        ]
        assert all(math.isfinite(x) for x in values)
        assert -RATING.max_discharge_w - 1e-6 <= d.setpoint_w <= RATING.max_charge_w + 1e-6
        assert d.constraint.p_min_w - 1e-6 <= d.setpoint_w <= d.constraint.p_max_w + 1e-6
        assert abs(d.reactive_var) <= RATING.max_var + 1e-6
        if not d.contactor_allowed:
            assert d.setpoint_w == 0.0 and d.reactive_var == 0.0


def test_gradient_directive_ramps_the_request() -> None:
    eng = engine(None)
    eng.set_directives(
        [
            {
                "id": "g",
                "controlType": "Gradients",
                "isDefault": True,
                "gradient": {"priority": 0, "gradient": 10.0, "softGradient": 0.0},
            }
        ],
        0.0,
    )
    run(eng, 0.0, 1.0, 0.01, nominal, requested_w=0.0)
    out = run(eng, 1.0, 3.0, 0.01, nominal, requested_w=5500.0)
    # full scale 11 kW in 10 s: 1100 W/s; from the last sample at the old request (0.99 s)
    # to the last one here (2.99 s) is 2 s: 2200 W
    assert out[-1][1].setpoint_w == pytest.approx(1100.0 * 2.0, abs=1.0)
    assert out[0][1].setpoint_w == pytest.approx(11.0, abs=0.1)  # one 10 ms step


def test_freq_watt_directive_sets_the_target_der_sign() -> None:
    eng = engine("vde-ar-n-4105", IMMEDIATE)
    eng.set_directives(
        [
            {
                "id": "fw",
                "controlType": "FreqWatt",
                "isDefault": True,
                "curve": {
                    "priority": 0,
                    "yUnit": "PctMaxW",
                    "curveData": [
                        {"x": 49.8, "y": 100},
                        {"x": 50.0, "y": 0},
                        {"x": 50.2, "y": -100},
                    ],
                },
            }
        ],
        0.0,
    )
    out = run(eng, 0.0, 1.0, 0.01, lambda t: (100.0, 49.9), requested_w=3000.0)
    # 49.9 Hz: +50 % injection of the 10 kW discharge rating; the droop stays out of it
    assert out[-1][1].setpoint_w == pytest.approx(-5000.0)
    alarms = [(a.control_type, a.grid_event_fault) for _, d in out for a in d.alarms]
    assert alarms == [("FreqWatt", "UnderFrequency")]


def test_volt_watt_hysteresis_holds_the_limit_after_recovery() -> None:
    eng = engine("ieee1547-cat2", IMMEDIATE)
    eng.set_directives(
        [
            {
                "id": "vw",
                "controlType": "VoltWatt",
                "isDefault": True,
                "curve": {
                    "priority": 0,
                    "yUnit": "PctMaxW",
                    "responseTime": 0.0,
                    "curveData": [{"x": 106, "y": 100}, {"x": 110, "y": 0}],
                    "hysteresis": {
                        "hysteresisLow": 90.0,
                        "hysteresisHigh": 105.0,
                        "hysteresisDelay": 5.0,
                        "hysteresisGradient": 10.0,
                    },
                },
            }
        ],
        0.0,
    )

    def grid(t: float) -> tuple[float, float]:
        return (108.0 if 1.0 <= t < 2.0 else 100.0), 60.0

    out = dict(run(eng, 0.0, 15.0, 0.1, grid, -10000.0, nominal_v=120.0))
    assert out[1.5].setpoint_w == pytest.approx(-5000.0)  # 50 % at 108 %
    assert out[6.5].setpoint_w == pytest.approx(-5000.0)  # held for 5 s after recovery
    assert out[9.0].setpoint_w == pytest.approx(-7000.0)  # 7.0 s: +10 %/s for 2 s
    assert out[14.0].setpoint_w == pytest.approx(-10000.0)
