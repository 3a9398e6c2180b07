"""Reconnect back-off of OCPP-J 5.4 (RetryBackOffWaitMinimum / RandomRange / RepeatTimes)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class ReconnectBackoff:
    """First wait = WaitMinimum + rand(0..RandomRange); each failure doubles the base,
    at most RepeatTimes times, and every attempt adds a fresh random part (OCPP-J 5.4)."""

    wait_minimum: float
    random_range: float
    repeat_times: int
    rng: random.Random = field(default_factory=random.Random)
    _failures: int = 0

    def next_delay(self) -> float:
        doublings = min(self._failures, self.repeat_times)
        self._failures += 1
        base = self.wait_minimum * float(1 << doublings)
        return base + self.rng.uniform(0.0, self.random_range)

    def reset(self) -> None:
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures
