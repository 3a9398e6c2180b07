"""R05: a bounded, ordered history of DER alarm edges (start and end), kept on disk, so
an alarm that starts and ends while evse is down still reaches the CSMS, as two
NotifyDERAlarm in order, when evse comes back (it gets the history in `welcome`).

Every edge gets a sequence number that never repeats, also across hal restarts:
`seq = boot << 24 | n`, where `boot` is a counter saved (atomically, hal/persist.py)
before the first sample of this run and `n` counts the edges of the run. evse remembers
the last number it queued and takes only newer ones. `boot` also starts no lower than
the wall clock in seconds, so a wiped state folder still yields larger numbers.

`record` runs in the sample loop: it only appends in memory and wakes `run`, the task
that writes the file in a worker thread (the loop never waits on the disk)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hal.persist import load_alarm_history, save_alarm_history

log = logging.getLogger(__name__)

CAPACITY = 256  # edges kept (all EVSEs): hours of a flapping grid, a few KiB on disk
_RUN_BITS = 24  # edges per run before `boot` moves on (16 million)
_RETRY_S = 1.0  # a failed write is tried again after this long


class AlarmHistory:
    def __init__(
        self,
        path: Path,
        capacity: int = CAPACITY,
        wall_s: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        saved_boot, events = load_alarm_history(path)
        self._events: deque[dict[str, Any]] = deque(events, maxlen=capacity)
        self._boot = max(saved_boot + 1, int(wall_s()))
        self._n = 0
        self._dirty = asyncio.Event()
        # The new boot counter is on disk before any edge is numbered with it: a kill -9
        # at any time cannot hand out a number twice. Startup only, never the sample loop.
        self._save_now("start")

    def record(self, evse_id: int, kind: str, data: dict[str, object]) -> int:
        """One edge (`der_alarm` or `der_alarm_ended` and its event data); its number."""
        if self._n >> _RUN_BITS:  # numbers of this run used up: a new run, saved first
            self._boot += 1
            self._n = 0
            self._save_now("new run")
        seq = self._boot << _RUN_BITS | self._n
        self._n += 1
        self._events.append({"seq": seq, "evse_id": evse_id, "kind": kind, **data})
        self._dirty.set()
        return seq

    def entries(self) -> list[dict[str, Any]]:
        """The history, oldest first (for `Welcome.alarm_history`)."""
        return [dict(e) for e in self._events]

    async def run(self) -> None:
        """Write the history whenever it changed, until cancelled (then once more)."""
        try:
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                snapshot = list(self._events)
                try:
                    await asyncio.to_thread(save_alarm_history, self._path, self._boot, snapshot)
                except OSError as exc:
                    log.error("DER alarm history not stored (%s): trying again", exc)
                    self._dirty.set()
                    await asyncio.sleep(_RETRY_S)
        except asyncio.CancelledError:
            if self._dirty.is_set():  # the daemon stops (after the safe state): flush
                self._save_now("stop")
            raise

    def _save_now(self, why: str) -> None:
        try:
            save_alarm_history(self._path, self._boot, list(self._events))
        except OSError as exc:
            log.error("DER alarm history not stored at %s (%s)", why, exc)
