from __future__ import annotations

import pytest

from evse.iso15118.d20.rational import from_float, to_float


@pytest.mark.parametrize("x", [0.0, 1.0, 230.0, 11000.0, -7400.0, 0.125, 400.5, 3.2e6, -32767.0])
def test_round_trip_within_int16_precision(x: float) -> None:
    r = from_float(x)
    assert -32768 <= r.Value <= 32767
    assert to_float(r) == pytest.approx(x, rel=1e-4, abs=1e-3)


def test_shortest_form() -> None:
    r = from_float(11000.0)
    assert (r.Value, r.Exponent) == (11, 3)
