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
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Point = tuple[float, float]
Points = tuple[Point, ...]

MAX_POINTS = 10  # DERCurveType.curveData maxItems


class CurveError(ValueError):
    """A curve or directive parameter that cannot be executed; the text is the reason."""


def validate_points(
    points: Iterable[Sequence[float]],
    name: str = "curve",
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    max_points: int = MAX_POINTS,
) -> Points:
    """Check a curve and return it as a tuple of (x, y); raise CurveError with the reason."""
    out: list[Point] = []
    for i, p in enumerate(points):
        if len(p) != 2:
            raise CurveError(f"{name}: point {i} must be (x, y), got {list(p)!r}")
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise CurveError(f"{name}: point {i} ({x}, {y}) is not finite")
        if x_range is not None and not x_range[0] <= x <= x_range[1]:
            raise CurveError(f"{name}: point {i} x={x} outside {x_range[0]}..{x_range[1]}")
        if y_range is not None and not y_range[0] <= y <= y_range[1]:
            raise CurveError(f"{name}: point {i} y={y} outside {y_range[0]}..{y_range[1]}")
        if out and x == out[-1][0]:
            raise CurveError(f"{name}: point {i} duplicates x={x} of point {i - 1}")
        if out and x < out[-1][0]:
            raise CurveError(
                f"{name}: point {i} x={x} is below point {i - 1} x={out[-1][0]}"
                " (points must be sorted by x)"
            )
        out.append((x, y))
    if not out:
        raise CurveError(f"{name}: needs at least one point")
    if len(out) > max_points:
        raise CurveError(f"{name}: {len(out)} points, at most {max_points}")
    return tuple(out)


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


def ocpp_points(curve_data: Any, name: str) -> list[tuple[float, float]]:
    """DERCurveType.curveData ([{x, y}, ...]) as raw pairs; type errors become CurveError."""
    if not isinstance(curve_data, list):
        raise CurveError(f"{name}: curveData must be a list of {{x, y}}")
    pairs: list[tuple[float, float]] = []
    for i, p in enumerate(curve_data):
        if not isinstance(p, Mapping):
            raise CurveError(f"{name}: curveData[{i}] must be an object {{x, y}}")
        x, y = p.get("x"), p.get("y")
        if not (_is_number(x) and _is_number(y)):
            raise CurveError(f"{name}: curveData[{i}] needs numeric x and y")
        assert isinstance(x, int | float) and isinstance(y, int | float)
        pairs.append((float(x), float(y)))
    return pairs


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
