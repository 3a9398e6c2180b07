"""First-order response (90 % in the response time) and rate limiting."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.grid.response import FirstOrder, RateLimiter


@pytest.mark.parametrize("response_s", [0.5, 2.0, 5.0, 10.0])
def test_first_order_reaches_90_percent_at_response_time(response_s: float) -> None:
    dt = 0.01
    f = FirstOrder(response_s, 0.0)
    f.update(1000.0, 0.0)
    n90 = None
    for k in range(1, int(response_s / dt) * 3):
        y = f.update(1000.0, k * dt)
        if n90 is None and y >= 900.0 - 1e-9:
            n90 = k
    assert n90 is not None
    assert abs(n90 * dt - response_s) <= dt + 1e-9
    # 1 - exp(-T / tau) = 0.9 exactly at T (IEEE 1547 open-loop response time)
    assert 1.0 - math.exp(-response_s / (response_s / math.log(10.0))) == pytest.approx(0.9)


def test_zero_response_time_is_immediate() -> None:
    f = FirstOrder(0.0, 0.0)
    assert f.update(5.0, 0.0) == 5.0
    assert f.update(-3.0, 0.001) == -3.0


def test_rate_limiter_moves_at_its_rate() -> None:
    r = RateLimiter(100.0, 0.0)
    r.update(0.0, 0.0)
    assert r.update(1000.0, 1.0) == pytest.approx(100.0)
    assert r.update(1000.0, 3.0) == pytest.approx(300.0)
    assert r.update(0.0, 3.5) == pytest.approx(250.0)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(0.0, 100.0),
    st.lists(st.floats(-1e5, 1e5), min_size=1, max_size=50),
    st.floats(1e-3, 1.0),
)
def test_first_order_stays_between_start_and_targets(
    response_s: float, targets: list[float], dt: float
) -> None:
    f = FirstOrder(response_s, 0.0)
    lo, hi = min(0.0, *targets), max(0.0, *targets)
    for k, target in enumerate(targets):
        y = f.update(target, k * dt)
        assert math.isfinite(y)
        assert lo - 1e-6 <= y <= hi + 1e-6
