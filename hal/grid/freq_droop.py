"""Frequency droop (OCPP 2.1 FreqDroopType; IEEE 1547-2018 6.5.2.7; EN 50549-1 4.6.1
LFSM-O / 4.6.2 LFSM-U; VDE-AR-N 4105 5.7.3).

Above `over_freq_hz` the unit moves toward charging (a generator would reduce output),
below `under_freq_hz` toward discharging, by

    dP = (f - f_over) / (f_nom * droop_over) * P_ref       (f > f_over)
    dP = -(f_under - f) / (f_nom * droop_under) * P_ref    (f < f_under)

in the station's sign (+ charges). At 5 % droop that is 40 % of P_ref per Hz at 50 Hz.
P_ref is the grid code's reference power: the rated power for IEEE 1547 (its formula is
in per unit of rating, applied to the pre-disturbance power) and the active power at the
moment of activation for VDE-AR-N 4105 / EN 50549 LFSM-O (`reference = "activation"`).
The change is added to the requested power by the engine and reaches 90 % of its
target in `response_time_s` (first-order, see response.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hal.grid.response import FirstOrder


class DroopReference(StrEnum):
    RATED = "rated"
    ACTIVATION = "activation"


@dataclass(frozen=True, slots=True)
class FreqDroopSpec:
    over_freq_hz: float
    under_freq_hz: float
    over_droop: float  # per unit, 0.05 = 5 %
    under_droop: float
    response_time_s: float


def droop_delta_w(spec: FreqDroopSpec, freq_hz: float, nominal_hz: float, pref_w: float) -> float:
    """Steady-state power change at `freq_hz` (station sign, + = more charging)."""
    if freq_hz > spec.over_freq_hz:
        return (freq_hz - spec.over_freq_hz) / (nominal_hz * spec.over_droop) * pref_w
    if freq_hz < spec.under_freq_hz:
        return -(spec.under_freq_hz - freq_hz) / (nominal_hz * spec.under_droop) * pref_w
    return 0.0


class FreqDroop:
    def __init__(
        self,
        spec: FreqDroopSpec,
        nominal_hz: float,
        rated_w: float,
        reference: DroopReference,
    ) -> None:
        self.spec = spec
        self._nominal = nominal_hz
        self._rated = rated_w
        self._reference = reference
        self._filter = FirstOrder(spec.response_time_s, 0.0)
        self._pref_w = rated_w
        self.active = False
        self.direction = 0  # +1 over-frequency, -1 under-frequency
        self.target_w = 0.0

    def update(self, freq_hz: float, measured_w: float, now: float) -> float:
        """Feed one sample; return the (filtered) power change in W."""
        outside = freq_hz > self.spec.over_freq_hz or freq_hz < self.spec.under_freq_hz
        if outside and not self.active:
            # Reference captured at activation (VDE-AR-N 4105 / EN 50549 LFSM-O).
            # The reference can never exceed the unit's rating (a bad reading must not
            # scale the response).
            self._pref_w = (
                min(abs(measured_w), self._rated)
                if self._reference is DroopReference.ACTIVATION
                else self._rated
            )
        self.active = outside
        self.direction = (
            1
            if freq_hz > self.spec.over_freq_hz
            else -1
            if freq_hz < self.spec.under_freq_hz
            else 0
        )
        self.target_w = droop_delta_w(self.spec, freq_hz, self._nominal, self._pref_w)
        return self._filter.update(self.target_w, now)
