"""The run's record: one JSON object per line (trace.jsonl in the run directory), kept
in memory as well for the checks and the plot. Every line has `t` (scenario seconds,
simulated time), `wall` (UTC) and `src`: ocpp | iso15118 | slac | hal | mqtt | step |
check | process | car."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any


@dataclass
class Timeline:
    """Scenario time: simulated seconds since the start, `speed` times real time."""

    speed: float = 1.0
    start: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return (time.monotonic() - self.start) * self.speed

    def real_delay(self, t: float) -> float:
        """Real seconds until scenario time `t`."""
        return max(0.0, t / self.speed - (time.monotonic() - self.start))


class Trace:
    def __init__(self, path: Path, timeline: Timeline) -> None:
        self.path = path
        self.timeline = timeline
        self.records: list[dict[str, Any]] = []
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._started = False  # records wait for t = 0 (see start)

    def add(self, src: str, **fields: Any) -> dict[str, Any]:
        rec = {"t": round(self.timeline.now(), 3), "wall": datetime.now(UTC).isoformat(),
               "src": src, **fields}
        self.records.append(rec)
        if self._started:
            self._write(rec)
            for listener in self.listeners:
                listener(rec)
        return rec

    def _write(self, rec: dict[str, Any]) -> None:
        self._file.write(json.dumps(rec, default=str) + "\n")

    def start(self, at_monotonic: float) -> None:
        """t = 0 is now `at_monotonic` (the station is ready): what came before (the
        processes starting) gets negative times, and is written and told now."""
        shift = (at_monotonic - self.timeline.start) * self.timeline.speed
        self.timeline.start = at_monotonic
        for rec in self.records:
            rec["t"] = round(rec["t"] - shift, 3)
            self._write(rec)
            for listener in self.listeners:
                listener(rec)
        self._started = True

    def of(self, src: str, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.records
                if r["src"] == src and all(r.get(k) == v for k, v in match.items())]

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._started:  # never ready: write what there is, times from the start
            for rec in self.records:
                self._write(rec)
        self._file.close()
