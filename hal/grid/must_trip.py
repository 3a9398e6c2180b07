"""Must-trip protection: stages (clearing time, threshold), evaluated per phase.

Axes, as OCPP 2.1 DERCurveType takes them from IEEE 2030.5 (and as the SunSpec trip
models and ISO 15118-20 Amd 1 M.2.2.1.10/11 decode them): x = time in seconds,
y = the grid quantity (voltage in percent of nominal, frequency in Hz). Every grid code
writes its trip settings as stages (IEEE 1547-2018 OV1/OV2/UV1/UV2 and OF1/OF2/UF1/UF2,
VDE-AR-N 4105 U>>, U<, U<<, f<, f>), so a trip curve's points are read as a step curve:
point (t, y) means "trip when the quantity stays beyond y for t seconds". Between points
the boundary is held, never interpolated, so we never trip earlier than a stage says
(ride-through) and never later than its clearing time plus one sample.

Timing: a stage's timer starts at the first sample beyond its threshold and the trip
fires at the first sample with now - start >= clearing time - tolerance; an excursion
that ends before that resets the timer. Each phase has its own timer. The tolerance is
the timer resolution: a quarter of the sample interval, at most 2 ms. Without it a
sample taken a fraction of a millisecond early (loop jitter) would push the trip a
whole period late; with it the trip is never more than 2 ms ahead of the clearing time
measured from the first sample that saw the excursion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from hal.der_rules import stage_points


class Direction(StrEnum):
    OVER = "over"  # beyond = above the threshold (HV, HF, power monitoring)
    UNDER = "under"  # beyond = below the threshold (LV, LF)


@dataclass(frozen=True, slots=True)
class TripStage:
    clearing_s: float
    threshold: float


@dataclass(frozen=True, slots=True)
class StageCurve:
    """A validated step curve of stages, shared by must-trip, may-trip and cessation."""

    control_type: str  # OCPP DERControlEnumType, e.g. "HVMustTrip"
    direction: Direction
    stages: tuple[TripStage, ...]


def make_stage_curve(
    control_type: str,
    direction: Direction,
    points: Sequence[tuple[float, float]],
    y_range: tuple[float, float],
    y_unit: str,
) -> StageCurve:
    """Validate (time, threshold) points (hal/der_rules.py); raise CurveError naming
    the bad point."""
    checked = stage_points(control_type, direction.value, points, y_range, y_unit)
    stages = tuple(TripStage(t, y) for t, y in checked)
    return StageCurve(control_type, direction, stages)


def beyond(direction: Direction, value: float, threshold: float) -> bool:
    if direction is Direction.OVER:
        return value > threshold
    return value < threshold


MAX_TOLERANCE_S = 0.002


class StageTimers:
    """Per-stage, per-phase excursion timers for one StageCurve."""

    def __init__(self, curve: StageCurve) -> None:
        self.curve = curve
        self._since: list[list[float | None]] = [[] for _ in curve.stages]
        self._last_t: float | None = None
        self._tolerance = 0.0

    def update(self, values: Sequence[float], now: float) -> TripStage | None:
        """Feed one sample (one value per phase); return the stage whose time has run out."""
        fired: TripStage | None = None
        if self._last_t is not None and now > self._last_t:
            self._tolerance = min(MAX_TOLERANCE_S, 0.25 * (now - self._last_t))
        self._last_t = now
        for si, stage in enumerate(self.curve.stages):
            since = self._since[si]
            if len(since) != len(values):
                since[:] = [None] * len(values)
            for pi, v in enumerate(values):
                if beyond(self.curve.direction, v, stage.threshold):
                    start = since[pi]
                    if start is None:
                        since[pi] = start = now
                    if fired is None and now - start >= stage.clearing_s - self._tolerance:
                        fired = stage
                else:
                    since[pi] = None
        return fired

    def any_beyond(self, values: Sequence[float]) -> bool:
        """True while any phase is beyond any stage's threshold (cessation hold)."""
        return any(
            beyond(self.curve.direction, v, s.threshold) for s in self.curve.stages for v in values
        )

    def reset(self) -> None:
        for since in self._since:
            since[:] = [None] * len(since)
