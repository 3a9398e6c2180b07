"""The simulated EV's traction battery behind a DC output: capacity, state of charge, a
voltage that rises with SOC, and the current the car accepts (its BMS tapers charging
above 80 % SOC and stops discharging near empty).

Energy counts at the terminals (V x A integrated like the meter, trapezoid per step), so
the meter at the EVSE and the battery's SOC agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EvBatteryModel:
    capacity_kwh: float = 60.0
    soc_pct: float = 50.0  # at plug-in
    v_empty: float = 330.0  # open-circuit voltage at 0 % SOC
    v_full: float = 400.0  # at 100 %
    resistance_ohm: float = 0.05  # internal: the terminal voltage rises with charge current
    max_charge_a: float = 200.0
    max_discharge_a: float = 100.0
    min_soc_pct: float = 10.0  # the BMS gives nothing below this


class SimEvBattery:
    def __init__(self, model: EvBatteryModel) -> None:
        self.model = model
        self.energy_wh = model.capacity_kwh * 1000.0 * model.soc_pct / 100.0
        self._last_w = 0.0

    @property
    def soc_pct(self) -> float:
        return 100.0 * self.energy_wh / (self.model.capacity_kwh * 1000.0)

    def open_circuit_v(self) -> float:
        m = self.model
        return m.v_empty + (m.v_full - m.v_empty) * min(max(self.soc_pct, 0.0), 100.0) / 100.0

    def terminal_v(self, current_a: float) -> float:
        return self.open_circuit_v() + current_a * self.model.resistance_ohm

    def current_limits(self) -> tuple[float, float]:
        """(max charge A, max discharge A) the car accepts now (magnitudes)."""
        m, soc = self.model, self.soc_pct
        charge = m.max_charge_a * min(1.0, max(0.0, (100.0 - soc) / 20.0))
        discharge = m.max_discharge_a * min(1.0, max(0.0, (soc - m.min_soc_pct) / 10.0))
        return charge, discharge

    def advance(self, dt: float, power_w: float) -> None:
        """Energy at the terminals over `dt` (linear power, like the meter)."""
        p0, self._last_w = self._last_w, power_w
        if dt > 0.0:
            self.energy_wh += (p0 + power_w) / 2.0 * dt / 3600.0
