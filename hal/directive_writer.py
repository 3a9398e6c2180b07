"""Accepted DER directives, stored then applied, off the socket read path.

The contract's `der_directives` hands a set to `DirectiveWriter.submit`, which queues it;
`run` (a task of the daemon) takes one set at a time, in arrival order: validate, store
(temp file, fsync, rename, fsync of the folder: in a worker thread, so neither the read
path nor the sample loop waits on the disk), then apply to every engine. The engines
change only once the set is on disk, so what runs is what a restart restores. A storage
failure rejects the whole set (`storage_failed: <why>`) and the previous set stays in
force; the connection stays (docs/hal-contract.md, Persistence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from hal.grid.directives import directive_id, select_active
from hal.grid.engine import GridEngine
from hal.persist import save_directives
from hal.protocol import E_REJECTED, E_STORAGE, DerDirectives, DirectiveResult, Error, Message

log = logging.getLogger(__name__)

BACKLOG = 16  # sets waiting for the disk; more is a client bug, not a need


class Replier(Protocol):
    def send(self, msg: Message) -> None: ...


class DirectiveWriter:
    def __init__(
        self,
        path: Path,
        nominal_hz: float,
        engines: Callable[[], Iterable[GridEngine]],
        clock: Callable[[], float],
    ) -> None:
        self._path = path
        self._nominal_hz = nominal_hz
        self._engines = engines
        self._clock = clock
        self._queue: asyncio.Queue[tuple[Replier, DerDirectives]] = asyncio.Queue(BACKLOG)

    def submit(self, conn: Replier, msg: DerDirectives) -> Error | None:
        """Queue a set; `conn` gets its `directive_result` once it is stored (or not)."""
        try:
            self._queue.put_nowait((conn, msg))
        except asyncio.QueueFull:
            why = f"{BACKLOG} directive sets already wait for the disk"
            return Error(E_REJECTED, why, msg.TYPE)
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """One set at a time until `stop`; then it lets go at once (a hung disk must not
        hold up the daemon's way to the safe state)."""
        halt = asyncio.ensure_future(stop.wait())
        try:
            while True:
                get = asyncio.ensure_future(self._queue.get())
                if not await _first_or_cancel(get, halt):
                    return
                conn, msg = get.result()
                work = asyncio.ensure_future(self.store_and_apply(msg))
                if not await _first_or_cancel(work, halt):
                    return
                conn.send(work.result())
        finally:
            await _cancelled(halt)

    async def store_and_apply(self, msg: DerDirectives) -> DirectiveResult:
        _, refused = select_active(msg.directives, self._nominal_hz)
        reasons: dict[str, str] = {}
        for did, why in refused:
            reasons.setdefault(did, why)
        accepted = [d for d in msg.directives if directive_id(d) not in reasons]
        try:
            await asyncio.to_thread(save_directives, self._path, accepted)
        except OSError as exc:
            log.error("DER directives not stored (%s): keeping the previous set", exc)
            for d in accepted:
                reasons[directive_id(d)] = f"{E_STORAGE}: {exc}"
            return DirectiveResult([], [{"id": i, "reason": r} for i, r in reasons.items()])
        now = self._clock()
        for engine in self._engines():
            for r in engine.set_directives(accepted, now):  # same rules as above: none
                log.error("directive %s refused by an engine: %s", r.directive_id, r.reason)
        log.info("DER directives: %d accepted, %d rejected", len(accepted), len(reasons))
        return DirectiveResult(
            [directive_id(d) for d in accepted],
            [{"id": i, "reason": r} for i, r in reasons.items()],
        )


async def _cancelled(fut: asyncio.Future[Any]) -> None:
    fut.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await fut


async def _first_or_cancel(work: asyncio.Future[Any], halt: asyncio.Future[Any]) -> bool:
    """Wait for `work` unless `halt` comes first; then cancel `work` and say False."""
    await asyncio.wait((work, halt), return_when=asyncio.FIRST_COMPLETED)
    if work.done():
        return True
    await _cancelled(work)
    return False
