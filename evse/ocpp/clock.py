"""Time for the OCPP side: monotonic seconds for timers, UTC wall time for the wire.

Everything that waits goes through a `Clock`, so tests can run an hour of protocol time
in milliseconds with `SimClock` while sockets stay real.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> datetime: ...
    async def sleep(self, seconds: float) -> None: ...


def iso(ts: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a Z, as OCPP wants dateTime."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Real time `speed` times faster: the OCPP side of `evse sim --speed K` (a scenario
    of an hour offline runs in a minute). Timers, timestamps and intervals all scale, so
    the station behaves as it would over the longer time; sockets stay real."""

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self._mono0 = time.monotonic()
        self._wall0 = datetime.now(UTC)

    def monotonic(self) -> float:
        return self._mono0 + (time.monotonic() - self._mono0) * self.speed

    def wall(self) -> datetime:
        return self._wall0 + timedelta(seconds=(time.monotonic() - self._mono0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class SimClock:
    """Virtual time: `sleep` waits until a test calls `advance` past its deadline."""

    def __init__(self, start_wall: datetime | None = None, start: float = 1000.0) -> None:
        self._now = start
        self._t0 = start
        self._wall0 = start_wall or datetime(2026, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._now - self._t0)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    def deadlines(self) -> list[float]:
        """Wake-up times of every task sleeping on this clock (for tests)."""
        return sorted(s[0] for s in self._sleepers if not s[2].done())

    def next_deadline(self) -> float | None:
        live = [s for s in self._sleepers if not s[2].done()]
        return min(live)[0] if live else None

    async def settle(self, real_pause: float = 0.002) -> None:
        """Let every runnable task (and loopback I/O) catch up with the new time."""
        for _ in range(3):
            for _ in range(20):
                await asyncio.sleep(0)
            await asyncio.sleep(real_pause)

    async def advance(self, seconds: float, step: float | None = None) -> None:
        """Move time forward, waking sleepers in deadline order and settling after each."""
        target = self._now + seconds
        while True:
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleepers
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline = self._sleepers[0][0]
            if step is not None:
                deadline = min(deadline, self._now + step)
            self._now = max(self._now, deadline)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()


async def wait_for(clock: Clock, aw: Awaitable[T], seconds: float) -> T:
    """`asyncio.wait_for` on the given clock; raises TimeoutError, never leaks a task."""
    task = asyncio.ensure_future(aw)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(timer, return_exceptions=True)
        if task.cancelled() or not task.done():
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        raise TimeoutError
    return task.result()
