"""Must-trip stages: timing on a fake clock, per phase, curve validation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.grid.controls import build_trip
from hal.grid.curves import CurveError
from hal.grid.must_trip import Direction, StageTimers, make_stage_curve

VDE_LV = make_stage_curve("LVMustTrip", Direction.UNDER, [(0.3, 45.0), (3.0, 80.0)], (0, 100), "%")
VDE_HV = make_stage_curve("HVMustTrip", Direction.OVER, [(0.1, 125.0)], (100, 200), "%")


def first_trip(timers: StageTimers, values_at, t_end: float, dt: float) -> float | None:
    for k in range(round(t_end / dt)):
        t = k * dt
        if timers.update(values_at(t), t) is not None:
            return t
    return None


@pytest.mark.parametrize("dt", [0.001, 0.01, 0.02])
def test_hv_trip_fires_within_one_sample_after_clearing_never_before(dt: float) -> None:
    # VDE-AR-N 4105 U>> 1.25 Un / 0.1 s; step to 1.30 Un at t = 1.0 s
    timers = StageTimers(VDE_HV)
    start = 1.0
    t = first_trip(
        timers, lambda t: (100.0, 130.0 if t >= start - 1e-12 else 100.0, 100.0), 3.0, dt
    )
    assert t is not None
    assert start + 0.1 - 1e-9 <= t <= start + 0.1 + dt + 1e-9


def test_excursion_shorter_than_clearing_time_does_not_trip() -> None:
    timers = StageTimers(VDE_LV)

    # 0.40 Un for 0.29 s (< 0.3 s); later 0.75 Un for 2.99 s (< 3.0 s)
    def v(t: float) -> tuple[float, ...]:
        if 1.0 <= t < 1.29:
            return (40.0,) * 3
        if 2.0 <= t < 4.99:
            return (75.0,) * 3
        return (100.0,) * 3

    assert first_trip(timers, v, 10.0, 0.01) is None


def test_second_stage_times_the_whole_excursion_below_its_threshold() -> None:
    timers = StageTimers(VDE_LV)

    # 0.40 Un for 0.2 s then 0.75 Un: the 0.80 Un stage has been violated since 1.0 s
    def v(t: float) -> tuple[float, ...]:
        if 1.0 <= t < 1.2:
            return (40.0,) * 3
        return (75.0,) * 3 if t >= 1.2 else (100.0,) * 3

    t = first_trip(timers, v, 10.0, 0.01)
    assert t is not None and 4.0 - 1e-9 <= t <= 4.01 + 1e-9


def test_each_phase_has_its_own_timer() -> None:
    timers = StageTimers(VDE_HV)

    # phase 1 high for 0.06 s, then phase 2 high for 0.06 s: no single phase for 0.1 s
    def v(t: float) -> tuple[float, ...]:
        if 1.0 <= t < 1.06:
            return (130.0, 100.0, 100.0)
        if 1.06 <= t < 1.12:
            return (100.0, 130.0, 100.0)
        return (100.0, 100.0, 100.0)

    assert first_trip(timers, v, 3.0, 0.01) is None


@settings(max_examples=60, deadline=None)
@given(
    clearing=st.floats(0.0, 5.0),
    dt=st.sampled_from([0.005, 0.01, 0.02, 0.05]),
    start=st.floats(0.0, 2.0),
    phase=st.integers(0, 2),
    level=st.floats(110.5, 150.0),
)
def test_trip_timing_property(
    clearing: float, dt: float, start: float, phase: int, level: float
) -> None:
    curve = make_stage_curve("HVMustTrip", Direction.OVER, [(clearing, 110.0)], (100, 200), "%")
    timers = StageTimers(curve)
    first_seen: float | None = None
    for k in range(round((start + clearing + 1.0) / dt)):
        t = k * dt
        vals = [100.0, 100.0, 100.0]
        if t >= start:
            vals[phase] = level
            first_seen = t if first_seen is None else first_seen
        if timers.update(vals, t) is not None:
            assert first_seen is not None
            # never before (the timer resolution: a quarter sample, at most 2 ms)
            assert t - first_seen >= clearing - min(0.002, dt / 4)
            assert t - first_seen < clearing + dt + 1e-9  # within one sample after
            return
    pytest.fail("no trip")


def test_transposed_curve_rejected_with_axis_hint() -> None:
    # (x = voltage, y = time) is the wrong way round: OCPP / IEEE 2030.5 put time on x
    with pytest.raises(CurveError, match=r"outside 100.0..200.0 %Un.*time in s on x"):
        build_trip("HVMustTrip", [(120.0, 0.16), (110.0, 2.0)], 60.0)


def test_stage_with_longer_time_must_be_milder() -> None:
    with pytest.raises(CurveError, match="must be below"):
        build_trip("HVMustTrip", [(0.16, 110.0), (2.0, 120.0)], 60.0)
    with pytest.raises(CurveError, match="must be above"):
        build_trip("LVMustTrip", [(0.16, 70.0), (2.0, 45.0)], 60.0)


def test_unsorted_and_duplicate_times_rejected() -> None:
    with pytest.raises(CurveError, match="not after point 0"):
        build_trip("LVMustTrip", [(2.0, 70.0), (0.16, 45.0)], 60.0)
    with pytest.raises(CurveError, match="no duplicates"):
        build_trip("LVMustTrip", [(2.0, 45.0), (2.0, 70.0)], 60.0)


def test_frequency_curves_take_hz() -> None:
    spec = build_trip("HFMustTrip", [(0.16, 62.0), (300.0, 61.2)], 60.0)
    assert [s.threshold for s in spec.curve.stages] == [62.0, 61.2]
    with pytest.raises(CurveError, match="Hz"):
        build_trip("HFMustTrip", [(0.16, 102.0)], 60.0)
