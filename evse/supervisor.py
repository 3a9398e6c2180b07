"""Supervision of evse's long-running parts (hal link, OCPP station, ...) and of the
one-shot tasks the controller spawns.

A part is a coroutine factory. When its coroutine raises (or returns while the station
is not stopping), the supervisor logs the failure with its traceback and starts the part
again after a back-off that doubles from `backoff_start_s` up to `backoff_max_s`. More
than `max_restarts` failures of one part within `window_s`, or a failed one-shot task
(nothing to restart), is fatal: `failure` says why and `on_fatal` is called, so the
process exits non-zero and systemd (Restart=on-failure) starts it again.

`healthy()` is true only while every part is running (not waiting to restart, not
failed): the controller feeds the systemd watchdog only then, so a part that stays dead
gets the whole process restarted by systemd even if nothing else notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

PartFactory = Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class RestartPolicy:
    backoff_start_s: float = 0.5
    backoff_max_s: float = 30.0
    max_restarts: int = 5  # within window_s; one more failure is fatal
    window_s: float = 300.0


@dataclass
class _Part:
    name: str
    factory: PartFactory
    alive: bool = False
    restarts: int = 0
    failures: list[float] = field(default_factory=list)


class PartEnded(Exception):
    """A long-running part returned although nobody asked it to stop."""


class Supervisor:
    def __init__(
        self,
        policy: RestartPolicy | None = None,
        on_fatal: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._on_fatal = on_fatal
        self._clock = clock
        self._parts: dict[str, _Part] = {}
        self._runners: set[asyncio.Task[None]] = set()
        self._oneshots: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.failure: str | None = None

    # -- what the owner asks ----------------------------------------------------------

    def start(self, name: str, factory: PartFactory) -> None:
        """Run a long-running part under supervision from now on."""
        part = self._parts[name] = _Part(name, factory)
        task = asyncio.create_task(self._keep(part), name=f"supervise:{name}")
        self._runners.add(task)
        task.add_done_callback(self._runners.discard)

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        """A one-shot task: awaited (or cancelled) at stop; an exception in it is fatal."""
        task = asyncio.create_task(coro, name=name)
        self._oneshots.add(task)
        task.add_done_callback(self._oneshot_done)

    def healthy(self) -> bool:
        return self.failure is None and all(p.alive for p in self._parts.values())

    def restarts(self, name: str) -> int:
        return self._parts[name].restarts

    def alive(self, name: str) -> bool:
        return self._parts[name].alive

    async def stop(self) -> None:
        """Cancel every part and one-shot task and wait for them to finish."""
        self._stopping.set()
        tasks = [*self._runners, *self._oneshots]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- inside -----------------------------------------------------------------------

    def _fatal(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
            log.critical("giving up: %s; stopping the process for systemd to restart it", why)
            self._on_fatal()

    def _oneshot_done(self, task: asyncio.Task[None]) -> None:
        self._oneshots.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed", task.get_name(), exc_info=exc)
            self._fatal(f"task {task.get_name()} failed: {exc!r}")

    async def _keep(self, part: _Part) -> None:
        backoff = self.policy.backoff_start_s
        while not self._stopping.is_set():
            part.alive = True
            started = self._clock()
            try:
                await part.factory()
                if self._stopping.is_set():
                    return
                raise PartEnded(f"{part.name} ended on its own")
            except asyncio.CancelledError:
                part.alive = False
                raise
            except Exception as exc:  # the supervision boundary: logged, then restart or exit
                part.alive = False
                log.error("part %s failed", part.name, exc_info=exc)
                why = f"part {part.name} failed: {exc!r}"
            now = self._clock()
            if now - started > self.policy.window_s:
                backoff = self.policy.backoff_start_s  # it ran well for a while
            part.failures = [t for t in part.failures if now - t <= self.policy.window_s]
            part.failures.append(now)
            if len(part.failures) > self.policy.max_restarts:
                self._fatal(f"{why} ({len(part.failures)} times in {self.policy.window_s:.0f} s)")
                return
            log.warning("restarting %s in %.2f s", part.name, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, self.policy.backoff_max_s)
            part.restarts += 1
