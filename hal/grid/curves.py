"""Piecewise-linear curves (volt-var, volt-watt, freq-watt, watt-var, watt-PF).

OCPP 2.1 DERCurveType carries 1..10 points {x, y}. A function curve must have strictly
increasing x: an unsorted or duplicated x makes the curve ambiguous, so it is refused
with a message that names the point (R04: "a directive it cannot execute is rejected").

Interpolation divides by (x2 - x1). A public EVSE stack forgot that division and its
test used points 1 Hz apart, which hid the bug; our tests use 49.8 / 50.0 / 50.2 Hz.
Outside the first / last point the curve holds the end value (IEEE 1547-2018 curves
are flat beyond their end points).
"""

from __future__ import annotations

import itertools

from hal.der_rules import MAX_POINTS, DerRuleError, Point, Points, validate_points

# The checks live in the contract (hal/der_rules.py) so evse runs the same ones.
CurveError = DerRuleError
__all__ = ["MAX_POINTS", "CurveError", "Point", "Points", "interpolate", "validate_points"]


def interpolate(points: Points, x: float) -> float:
    """y at x on the curve through `points` (validated: x strictly increasing)."""
    if x <= points[0][0]:
        return points[0][1]
    if x >= points[-1][0]:
        return points[-1][1]
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        if x <= x2:
            # The division by (x2 - x1) is the whole point of this function.
            return y1 + (x - x1) * (y2 - y1) / (x2 - x1)
    return points[-1][1]  # pragma: no cover - unreachable for validated points
