"""10-minute mean over-voltage (EN 50549-1 4.9.3.4, VDE-AR-N 4105 U> 1.10 Un).

OCPP 2.1 VoltageParamsType.hv10MinMeanValue / hv10MinMeanTripDelay: the mean over a
sliding 10-minute window is recalculated at least every 3 s; when it stays above the
threshold for the trip delay, the unit trips. We keep one running sum per 3-s block and
per phase (200 blocks for 10 minutes), so memory is bounded whatever the sample rate.
Before 10 minutes of history exist, the missing time counts as nominal voltage: a
short spike after power-up must not trip on a 20-second "mean", and a sustained
over-voltage still trips a little earlier than a relay that waits for a full window.
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
        self._blocks: deque[tuple[float, float, tuple[float, ...]]] = deque()  # start, len, means
        self._cur_start: float | None = None
        self._cur_sums: list[float] = []
        self._cur_n = 0
        self.mean_pct: tuple[float, ...] = ()
        self._above_since: float | None = None

    def _recompute(self) -> None:
        phases = len(self._blocks[-1][2])
        blocks = [b for b in self._blocks if len(b[2]) == phases]
        covered = min(WINDOW_S, sum(length for _, length, _ in blocks))
        self.mean_pct = tuple(
            (sum(length * means[p] for _, length, means in blocks) + (WINDOW_S - covered) * 100.0)
            / max(WINDOW_S, covered)
            for p in range(phases)
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
            means = tuple(x / self._cur_n for x in self._cur_sums)
            self._blocks.append((self._cur_start, now - self._cur_start, means))
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
