"""Curve validation and interpolation (OCPP 2.1 DERCurveType, R04.FR.50-56)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.grid.curves import CurveError, interpolate, validate_points

FREQ_WATT = validate_points([(49.8, 100.0), (50.0, 0.0), (50.2, -100.0)])


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (49.0, 100.0),  # flat below the first point
        (49.8, 100.0),
        (49.9, 50.0),  # 100 + (49.9 - 49.8) * (0 - 100) / 0.2
        (49.95, 25.0),
        (50.0, 0.0),
        (50.05, -25.0),
        (50.1, -50.0),
        (50.2, -100.0),
        (51.0, -100.0),  # flat above the last point
    ],
)
def test_interpolation_with_realistic_frequency_breakpoints(x: float, expected: float) -> None:
    assert interpolate(FREQ_WATT, x) == pytest.approx(expected)


def test_interpolation_divides_by_point_spacing_known_public_bug() -> None:
    # w1 + (f - f1) * (w2 - w1) without / (f2 - f1) would give 90 at 49.9 Hz.
    assert interpolate(FREQ_WATT, 49.9) != pytest.approx(90.0)
    assert interpolate(FREQ_WATT, 49.9) == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("v", "q"),
    [
        (90.0, 44.0),
        (92.0, 44.0),
        (95.0, 22.0),
        (98.0, 0.0),
        (100.0, 0.0),
        (102.0, 0.0),
        (105.0, -22.0),
        (108.0, -44.0),
        (110.0, -44.0),
    ],
)
def test_volt_var_category_b_table(v: float, q: float) -> None:
    curve = validate_points([(92.0, 44.0), (98.0, 0.0), (102.0, 0.0), (108.0, -44.0)])
    assert interpolate(curve, v) == pytest.approx(q)


def test_unsorted_points_rejected_with_reason() -> None:
    with pytest.raises(CurveError, match=r"point 2 x=49.9 is below point 1 x=50.0.*sorted"):
        validate_points([(49.8, 1.0), (50.0, 0.0), (49.9, 2.0)], "FreqWatt")


def test_duplicate_x_rejected_with_reason() -> None:
    with pytest.raises(CurveError, match=r"point 1 duplicates x=50.0"):
        validate_points([(50.0, 1.0), (50.0, 0.0)], "FreqWatt")


def test_too_many_and_empty_and_nonfinite_rejected() -> None:
    with pytest.raises(CurveError, match="at most 10"):
        validate_points([(float(i), 0.0) for i in range(11)])
    with pytest.raises(CurveError, match="at least one"):
        validate_points([])
    with pytest.raises(CurveError, match="not finite"):
        validate_points([(1.0, math.nan)])


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=2, max_size=10))
def test_unsorted_or_duplicate_curves_always_rejected(points: list[tuple[float, float]]) -> None:
    xs = [p[0] for p in points]
    ok = all(a < b for a, b in itertools.pairwise(xs))
    if ok:
        assert validate_points(points) == tuple(points)
    else:
        with pytest.raises(CurveError, match=r"duplicates|sorted"):
            validate_points(points)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(finite, min_size=1, max_size=10, unique=True),
    st.lists(finite, min_size=10, max_size=10),
    finite,
)
def test_interpolation_never_nan_and_within_y_range(
    xs: list[float], ys: list[float], x: float
) -> None:
    curve = validate_points(list(zip(sorted(xs), ys, strict=False)))
    y = interpolate(curve, x)
    assert math.isfinite(y)
    lo = min(p[1] for p in curve)
    hi = max(p[1] for p in curve)
    assert lo - 1e-6 * max(1.0, abs(lo)) <= y <= hi + 1e-6 * max(1.0, abs(hi))
