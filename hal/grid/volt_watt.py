"""Volt-watt and frequency-watt curves (OCPP 2.1 VoltWatt / FreqWatt; IEEE 1547-2018
5.4.2 and 6.5.2).

Both curves are in the DER convention of IEEE 1547 / IEEE 2030.5 that OCPP section R
took them from: y = active power in percent of rated (PctMaxW; PctWAvail treated the
same), + = injection into the grid (discharge). The engine converts to the station sign.

- Volt-watt is a limit: at the phase with the highest voltage (x = % of nominal) the
  unit may inject at most y %; a negative y obliges it to absorb |y| %.
  IEEE 1547 default: (106, 100) -> (110, 0) for a unit that can absorb.
- Freq-watt is a target: the unit's active power follows y % at frequency x Hz, as the
  OCPP 2.1 Q08 LocalFrequency v2xFreqWattCurve does.

Both reach 90 % of a step in the curve's response time and accept hysteresis.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.grid.curves import Points, interpolate
from hal.grid.hysteresis import Hysteresis, HysteresisSpec
from hal.grid.response import FirstOrder


@dataclass(frozen=True, slots=True)
class WattCurveSpec:
    points: Points  # (V % of nominal or Hz, P % of rated, + = inject)
    response_time_s: float
    hysteresis: HysteresisSpec | None = None


class WattCurve:
    def __init__(self, spec: WattCurveSpec, initial_pct: float) -> None:
        self.spec = spec
        self._filter = FirstOrder(spec.response_time_s, initial_pct)
        self._hyst = Hysteresis(spec.hysteresis) if spec.hysteresis else None
        self.target_pct = initial_pct

    def update(self, x: float, now: float) -> float:
        """Feed the grid quantity; return the (filtered) y in % of rated, + = inject."""
        target = interpolate(self.spec.points, x)
        if self._hyst is not None:
            target = self._hyst.update(x, target, now)
        self.target_pct = target
        return self._filter.update(target, now)


def der_pct_to_station_w(pct: float, max_charge_w: float, max_discharge_w: float) -> float:
    """Percent of rated in DER sign (+ inject) to station watts (+ charges)."""
    if pct >= 0.0:
        return -pct / 100.0 * max_discharge_w
    return -pct / 100.0 * max_charge_w
