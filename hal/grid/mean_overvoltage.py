"""10-minute mean over-voltage (EN 50549-1 4.9.3.4, VDE-AR-N 4105 U> 1.10 Un).

OCPP 2.1 VoltageParamsType.hv10MinMeanValue / hv10MinMeanTripDelay: the mean over a
sliding 10-minute window is recalculated at least every 3 s; when it stays above the
threshold for the trip delay, the unit trips. We keep one running sum per 3-s block and
per phase (200 blocks for 10 minutes), so memory is bounded whatever the sample rate.
Until 10 minutes of history exist the mean is over the history we have.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

BLOCK_S = 3.0
WINDOW_S = 600.0


class MeanOverVoltage:
    def __init__(self, threshold_pct: float, trip_delay_s: float) -> None:
        self.threshold_pct = threshold_pct
        self.trip_delay_s = trip_delay_s
        self._blocks: deque[tuple[float, list[float], int]] = deque()  # (start, sums, n)
        self._cur_start: float | None = None
        self._cur_sums: list[float] = []
        self._cur_n = 0
        self.mean_pct: tuple[float, ...] = ()
        self._above_since: float | None = None

    def _recompute(self) -> None:
        blocks = list(self._blocks)
        if not blocks:
            return
        phases = len(blocks[-1][1])
        total_n = sum(n for _, s, n in blocks if len(s) == phases)
        if total_n == 0:
            return
        self.mean_pct = tuple(
            sum(s[p] for _, s, n in blocks if len(s) == phases) / total_n for p in range(phases)
        )

    def update(self, values_pct: Sequence[float], now: float) -> bool:
        """Feed one sample (per-phase voltage in % of nominal); True when the trip fires."""
        if self._cur_start is None or len(self._cur_sums) != len(values_pct):
            self._cur_start = now
            self._cur_sums = [0.0] * len(values_pct)
            self._cur_n = 0
        for i, v in enumerate(values_pct):
            self._cur_sums[i] += v
        self._cur_n += 1
        if now - self._cur_start >= BLOCK_S:
            # Close the block: the mean is recalculated every 3 s (EN 50549-1 4.9.3.4).
            self._blocks.append((self._cur_start, self._cur_sums, self._cur_n))
            while self._blocks and self._blocks[0][0] < now - WINDOW_S:
                self._blocks.popleft()
            self._cur_start = now
            self._cur_sums = [0.0] * len(values_pct)
            self._cur_n = 0
            self._recompute()
        if self.mean_pct and max(self.mean_pct) > self.threshold_pct:
            if self._above_since is None:
                self._above_since = now
            return now - self._above_since >= self.trip_delay_s
        self._above_since = None
        return False

    def reset(self) -> None:
        self._above_since = None
