"""A meter at the EVSE: reads the grid and the stage's power, integrates energy."""

from __future__ import annotations

from hal.devices.base import MeterReading


class SimMeter:
    def __init__(self, phases: int, now: float) -> None:
        self.phases = phases
        self.import_wh = 0.0
        self.export_wh = 0.0
        self._t = now
        self._last_w = 0.0

    def advance(self, now: float, active_w: float) -> None:
        dt = now - self._t
        p0, p1 = self._last_w, active_w
        self._t = max(self._t, now)
        self._last_w = active_w
        if dt <= 0.0:
            return
        # Linear power over the interval; where it changes sign, split at the zero
        # crossing so import and export each get their own triangle.
        if p0 * p1 < 0.0:
            t0 = dt * p0 / (p0 - p1)
            self._add(p0 / 2.0, t0)
            self._add(p1 / 2.0, dt - t0)
        else:
            self._add((p0 + p1) / 2.0, dt)

    def _add(self, mean_w: float, seconds: float) -> None:
        if mean_w >= 0.0:
            self.import_wh += mean_w * seconds / 3600.0
        else:
            self.export_wh += -mean_w * seconds / 3600.0

    def reading(
        self,
        voltage_v: tuple[float, ...],
        frequency_hz: float,
        active_w: float,
        reactive_var: float,
    ) -> MeterReading:
        n = self.phases
        per_phase_w = active_w / n
        current = tuple(abs(per_phase_w) / v if v > 1.0 else 0.0 for v in voltage_v[:n])
        apparent = (active_w**2 + reactive_var**2) ** 0.5
        pf = abs(active_w) / apparent if apparent > 1e-9 else 1.0
        return MeterReading(
            voltage_v=tuple(voltage_v[:n]),
            current_a=current,
            active_w=(per_phase_w,) * n,
            reactive_var=reactive_var,
            power_factor=pf,
            frequency_hz=frequency_hz,
            import_wh=self.import_wh,
            export_wh=self.export_wh,
        )
