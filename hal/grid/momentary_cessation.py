"""Momentary cessation (OCPP HVMomCess / LVMomCess, IEEE 1547-2018 clause 6.4.2.3).

Same step curve as must-trip (x = time s, y = voltage % of nominal), but instead of
opening the contactor the unit ceases to energize (P = 0, and Q = 0 unless
voltageParams.powerDuringCessation says Reactive) and resumes as soon as every phase
is back inside every threshold: cessation is ride-through, not a disconnection.
"""

from __future__ import annotations

from collections.abc import Sequence

from hal.grid.must_trip import StageCurve, StageTimers, TripStage


class MomentaryCessation:
    def __init__(self, curve: StageCurve) -> None:
        self._timers = StageTimers(curve)
        self.curve = curve
        self.ceased_by: TripStage | None = None

    @property
    def ceased(self) -> bool:
        return self.ceased_by is not None

    def update(self, values: Sequence[float], now: float) -> bool:
        """Feed one sample; True while the unit must cease to energize."""
        fired = self._timers.update(values, now)
        if self.ceased_by is None:
            self.ceased_by = fired
        elif not self._timers.any_beyond(values):
            self.ceased_by = None
        return self.ceased_by is not None
