"""Return-to-normal hysteresis of a curve function (OCPP 2.1 HysteresisType).

During a grid event (the curve's input x outside [low, high]) the output follows the
curve. When x comes back inside the band the output is held at its last event value
for `delay_s`, then ramps to the curve value at `gradient_pct_per_s` (percent of the
curve's y scale per second) — the return-to-normal behaviour of EN 50549-1 4.6.1
(LFSM-O deactivation) and IEEE 1547-2018 6.4.2.7. The schema's text says low / high
"adopt the same unit as yUnit", but its delay is "once grid parameter within low and
high", so we read low / high on the grid-parameter (x) axis; a document that says
otherwise would change only this file.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.grid.response import RateLimiter


@dataclass(frozen=True, slots=True)
class HysteresisSpec:
    low: float
    high: float
    delay_s: float
    gradient_pct_per_s: float  # 0: step back at once


class Hysteresis:
    def __init__(self, spec: HysteresisSpec) -> None:
        self.spec = spec
        self.in_event = False
        self._held = 0.0
        self._in_band_since: float | None = None
        self._ramp = RateLimiter(spec.gradient_pct_per_s)
        self._ramping = False

    def update(self, x: float, y_curve: float, now: float) -> float:
        s = self.spec
        if not s.low <= x <= s.high:
            self.in_event = True
            self._held = y_curve
            self._in_band_since = None
            self._ramping = False
            return y_curve
        if not self.in_event:
            return y_curve
        if self._in_band_since is None:
            self._in_band_since = now
        if now - self._in_band_since < s.delay_s:
            return self._held
        if not self._ramping:
            # The ramp starts when the delay ends, not at the sample that notices it.
            self._ramp.reset(self._held, self._in_band_since + s.delay_s)
            self._ramping = True
        out = self._ramp.update(y_curve, now)
        if out == y_curve:
            self.in_event = False
        return out
