"""Enter service after power-up and after a trip (OCPP EnterServiceType, IEEE 1547-2018
clause 4.10, EN 50549-1 4.10, VDE-AR-N 4105 5.4/8.3).

The unit may start only when every phase voltage and the frequency have stayed inside
the enter-service window for the intentional delay plus a random delay (drawn once per
attempt from a seeded source, so tests repeat); any excursion restarts the wait. It
then ramps: the allowed share of rated power rises linearly from 0 to 1 over the ramp
time (OCPP `rampRate`, "ramp rate in seconds"; EN 50549 <= 10 % Pmax/min is 600 s).
Leaving the window during the ramp restarts the wait, with power back at 0.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class EnterServiceSpec:
    low_voltage_pct: float
    high_voltage_pct: float
    low_freq_hz: float
    high_freq_hz: float
    delay_s: float
    random_delay_s: float
    ramp_s: float  # 0: step to full power


class Phase(StrEnum):
    WAITING = "waiting"  # outside the window, or window not yet held for the delay
    RAMPING = "ramping"
    IN_SERVICE = "in_service"


class EnterService:
    def __init__(self, spec: EnterServiceSpec, rng: random.Random) -> None:
        self.spec = spec
        self._rng = rng
        self.phase = Phase.WAITING
        self._in_window_since: float | None = None
        self._random_s = 0.0
        self._ramp_start = 0.0
        self.fraction = 0.0

    def in_window(self, voltages_pct: Sequence[float], freq_hz: float) -> bool:
        s = self.spec
        return (
            bool(voltages_pct)
            and all(s.low_voltage_pct <= v <= s.high_voltage_pct for v in voltages_pct)
            and s.low_freq_hz <= freq_hz <= s.high_freq_hz
        )

    def restart(self) -> None:
        """Power-up or trip: wait for the window again."""
        self.phase = Phase.WAITING
        self._in_window_since = None
        self.fraction = 0.0

    def remaining_delay(self, now: float) -> float | None:
        if self.phase is not Phase.WAITING or self._in_window_since is None:
            return None
        return max(0.0, self._in_window_since + self.spec.delay_s + self._random_s - now)

    def update(self, voltages_pct: Sequence[float], freq_hz: float, now: float) -> float:
        """Feed one sample; return the share of rated power allowed now (0..1)."""
        if self.phase is Phase.IN_SERVICE:
            return 1.0
        # The window decides when to START (IEEE 1547-2018 4.10.3). Once the ramp has
        # begun the unit is in service: an excursion is ride-through's and the trip
        # curves' business, not a reason to wait the whole delay again (OpenDER agrees).
        if self.phase is Phase.WAITING and not self.in_window(voltages_pct, freq_hz):
            self.restart()
            return 0.0
        if self.phase is Phase.WAITING:
            if self._in_window_since is None:
                self._in_window_since = now
                self._random_s = self._rng.uniform(0.0, self.spec.random_delay_s)
            # 1 us slack: sample times are sums of floats (t0 + k * dt), and a delay that
            # has run out must not wait one more sample for rounding.
            if now - self._in_window_since < self.spec.delay_s + self._random_s - 1e-6:
                return 0.0
            self.phase = Phase.RAMPING
            self._ramp_start = now
        if self.spec.ramp_s <= 0.0:
            self.fraction = 1.0
        else:
            self.fraction = min(1.0, (now - self._ramp_start) / self.spec.ramp_s)
        if self.fraction >= 1.0:
            self.phase = Phase.IN_SERVICE
            self.fraction = 1.0
        return self.fraction
