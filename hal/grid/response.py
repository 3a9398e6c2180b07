"""Time response of the DER functions: first-order filter and rate limiter.

OCPP 2.1 DERCurveType.responseTime / FreqDroopType.responseTime and IEEE 1547-2018
define the open-loop response time as the time to reach 90 % of a step's final value.
A first-order lag with tau = T / ln(10) does exactly that: 1 - exp(-T / tau) = 0.9.
A response time of 0 means "no limit" (OCPP 2.1 DERCurveType.responseTime).
"""

from __future__ import annotations

import math


class FirstOrder:
    """y' = (target - y) / tau with tau chosen so a step reaches 90 % in `response_s`."""

    def __init__(self, response_s: float, initial: float = 0.0) -> None:
        self._tau = response_s / math.log(10.0) if response_s > 0.0 else 0.0
        self.value = initial
        self._t: float | None = None

    @property
    def response_s(self) -> float:
        return self._tau * math.log(10.0)

    def reset(self, value: float, now: float | None = None) -> None:
        self.value = value
        self._t = now

    def update(self, target: float, now: float) -> float:
        if self._t is None:
            self._t = now
            if self._tau <= 0.0:
                self.value = target
            return self.value
        dt = max(0.0, now - self._t)
        self._t = now
        if self._tau <= 0.0:
            self.value = target
        else:
            self.value += (target - self.value) * (1.0 - math.exp(-dt / self._tau))
        return self.value


class RateLimiter:
    """Moves toward the target by at most `rate` units per second (gradients, ramps)."""

    def __init__(self, rate_per_s: float, initial: float = 0.0) -> None:
        self.rate_per_s = rate_per_s  # <= 0: no limit
        self.value = initial
        self._t: float | None = None

    def reset(self, value: float, now: float | None = None) -> None:
        self.value = value
        self._t = now

    def update(self, target: float, now: float) -> float:
        if self._t is None or self.rate_per_s <= 0.0:
            self._t = now
            self.value = target
            return self.value
        step = self.rate_per_s * max(0.0, now - self._t)
        self._t = now
        self.value = min(max(target, self.value - step), self.value + step)
        return self.value
