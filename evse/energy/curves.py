"""Piecewise-linear curves of a schedule period (OCPP 2.1 v2xFreqWattCurve,
v2xSignalWattCurve): linear between points, flat beyond the first and the last."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any


class CurveError(ValueError):
    """A curve that cannot be executed (too few points, a non-number, a repeated x)."""


def parse_curve(raw: Sequence[dict[str, Any]], x_key: str) -> tuple[tuple[float, float], ...]:
    """Points sorted by x. Two at least (Q08.FR.02 for the freq-watt curve)."""
    pts: list[tuple[float, float]] = []
    for i, p in enumerate(raw):
        x, y = p.get(x_key), p.get("power")
        ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y))
        if not ok:
            raise CurveError(f"point {i}: {x_key} and power must be numbers")
        pts.append((float(x), float(y)))  # type: ignore[arg-type]
    pts.sort()
    if len(pts) < 2:
        raise CurveError(f"{len(pts)} point(s): a curve needs at least two")
    if any(a[0] == b[0] for a, b in itertools.pairwise(pts)):
        raise CurveError(f"two points at the same {x_key}")
    return tuple(pts)


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]
