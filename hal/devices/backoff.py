"""Retry schedule for a device that stopped answering: exponential backoff, capped.

Pure (`now` passed in). While a retry is not due, a driver fails fast with the last
reason instead of hammering a dead bus every control cycle; the first success resets it.
"""

from __future__ import annotations


class Backoff:
    def __init__(self, initial_s: float = 0.1, factor: float = 2.0, max_s: float = 5.0) -> None:
        self.initial_s = initial_s
        self.factor = factor
        self.max_s = max_s
        self.failures = 0
        self._next_try = 0.0
        self.delay_s = 0.0

    def failed(self, now: float) -> None:
        self.delay_s = min(self.max_s, self.initial_s * self.factor**self.failures)
        self.failures += 1
        self._next_try = now + self.delay_s

    def succeeded(self) -> None:
        self.failures = 0
        self.delay_s = 0.0
        self._next_try = 0.0

    def due(self, now: float) -> bool:
        return self.failures == 0 or now >= self._next_try

    def retry_in(self, now: float) -> float:
        return max(0.0, self._next_try - now)
