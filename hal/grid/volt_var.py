"""Volt-var (OCPP 2.1 VoltVar curve with ReactivePowerParamsType; IEEE 1547-2018 5.3.3).

x = voltage in percent of the reference voltage, y = reactive power in percent of the
unit's maximum var (PctMaxVar; PctVarAvail is treated the same, we have no separate
availability), + = inject (over-excited). `vref_pct` moves the curve: the curve is read
at V * 100 / vRef. With autonomous vRef the reference follows the measured voltage
through a low-pass with the given time constant (IEEE 1547-2018 5.3.3, 300-5000 s).
The output reaches 90 % of a step in the curve's response time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hal.grid.curves import Points, interpolate
from hal.grid.hysteresis import Hysteresis, HysteresisSpec
from hal.grid.response import FirstOrder


@dataclass(frozen=True, slots=True)
class VoltVarSpec:
    points: Points  # (V % of vRef, Q % of max var)
    response_time_s: float
    vref_pct: float = 100.0
    autonomous_vref: bool = False
    vref_time_constant_s: float = 0.0
    hysteresis: HysteresisSpec | None = None


class VoltVar:
    def __init__(self, spec: VoltVarSpec) -> None:
        self.spec = spec
        self._filter = FirstOrder(spec.response_time_s, 0.0)
        tc = spec.vref_time_constant_s
        self._vref = FirstOrder(tc * math.log(10.0), spec.vref_pct)
        self._hyst = Hysteresis(spec.hysteresis) if spec.hysteresis else None

    @property
    def vref_pct(self) -> float:
        return self._vref.value

    def target_pct(self, v_pct: float, vref_pct: float) -> float:
        return interpolate(self.spec.points, v_pct * 100.0 / vref_pct)

    def update(self, v_pct: float, now: float) -> float:
        """Feed the (phase-average) voltage in % of nominal; return Q in % of max var."""
        vref = self._vref.update(v_pct, now) if self.spec.autonomous_vref else self.spec.vref_pct
        target = self.target_pct(v_pct, vref)
        if self._hyst is not None:
            target = self._hyst.update(v_pct, target, now)
        return self._filter.update(target, now)
