"""The EV's battery: SOC integrated from the power the SECC reports, voltage from SOC."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Battery:
    capacity_wh: float
    soc: float  # %
    v_empty: float = 330.0  # DC pack voltage at 0 % and at 100 % (a simple linear model)
    v_full: float = 420.0
    energy_in_wh: float = 0.0
    energy_out_wh: float = 0.0

    @property
    def voltage(self) -> float:
        return self.v_empty + (self.v_full - self.v_empty) * self.soc / 100.0

    def integrate(self, power_w: float, dt_s: float) -> None:
        """`power_w` (+ into the car) for `dt_s` seconds; SOC stays within 0..100 %."""
        if dt_s <= 0:
            return
        wh = power_w * dt_s / 3600.0
        if wh >= 0:
            self.energy_in_wh += wh
        else:
            self.energy_out_wh -= wh
        self.soc = max(0.0, min(100.0, self.soc + 100.0 * wh / self.capacity_wh))
