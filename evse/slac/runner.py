"""asyncio runners: a SLAC state machine driven over a link with the monotonic clock.

`EvseSlac` is the API the session coordinator uses per EVSE: run it inside the
coordinator's task group (`await slac.run()`), call `pilot_b_5_percent()` when the pilot
enters B with 5 % duty and `pilot_left(state)` on A/E/F; read outcomes from `events`
(Matched, MatchFailed with its reason, LinkUp, LinkDown, MatchDropped). `EvSlac` is the
EV side for simulation and commissioning. Frames and commands go through one inbox so
the machine is only ever touched from `run()`; no task is started behind its back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from evse.slac.ev_fsm import EvSlacConfig, EvSlacMachine
from evse.slac.events import (
    LinkDown,
    LinkUp,
    MatchDropped,
    Matched,
    MatchFailed,
    Output,
    PilotToggle,
    SendFrame,
)
from evse.slac.evse_fsm import EvseSlacConfig, EvseSlacMachine
from evse.slac.evse_fsm import State as EvseState
from evse.slac.keys import new_nmk
from evse.slac.link import Link

Event = Matched | MatchFailed | LinkUp | LinkDown | MatchDropped | PilotToggle
Command = Callable[[float], list[Output]]


class _Machine(Protocol):
    def receive(self, frame: bytes, now: float) -> list[Output]: ...
    def tick(self, now: float) -> list[Output]: ...
    def deadline(self) -> float | None: ...


class SlacDriver:
    def __init__(
        self, machine: _Machine, link: Link, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.machine = machine
        self.link = link
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self._clock = clock
        self._inbox: asyncio.Queue[bytes | Command] = asyncio.Queue()

    def command(self, command: Command) -> None:
        self._inbox.put_nowait(command)

    async def run(self) -> None:
        """Runs until cancelled; the link is closed on the way out."""
        self.link.open(self._inbox.put_nowait)
        try:
            while True:
                await self._once()
        finally:
            self.link.close()

    async def _once(self) -> None:
        deadline = self.machine.deadline()
        timeout = None if deadline is None else max(0.0, deadline - self._clock())
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancel that lands as a frame arrives, and the task then never ends.
            async with asyncio.timeout(timeout):
                item = await self._inbox.get()
        except TimeoutError:
            self._emit(self.machine.tick(self._clock()))
            return
        now = self._clock()
        self._emit(self.machine.receive(item, now) if isinstance(item, bytes) else item(now))
        deadline = self.machine.deadline()
        if deadline is not None and self._clock() >= deadline:
            self._emit(self.machine.tick(self._clock()))  # a timer fell due while busy

    def _emit(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, SendFrame):
                self.link.send(out.frame)
            else:
                self.events.put_nowait(out)


class EvseSlac:
    """SLAC for one EVSE (ISO 15118-3), over `link` to our own modem."""

    def __init__(
        self,
        link: Link,
        config: EvseSlacConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        nmk_source: Callable[[], bytes] = new_nmk,
    ) -> None:
        self.machine = EvseSlacMachine(link.mac, config, nmk_source)
        self._driver = SlacDriver(self.machine, link, clock)
        self.events = self._driver.events

    @property
    def state(self) -> EvseState:
        """idle / matching / matched / linked / failed (failure reason: machine.failure)."""
        return self.machine.state

    async def run(self) -> None:
        await self._driver.run()

    def pilot_b_5_percent(self) -> None:
        """IEC 61851-1 state B with 5 % duty: ISO 15118 is wanted, start matching."""
        self._driver.command(self.machine.start)

    def pilot_left(self, pilot_state: str) -> None:
        """Pilot in A, E or F (or unplugged): end matching or drop the match."""
        self._driver.command(lambda now: self.machine.stop(now, f"pilot state {pilot_state}"))

    def pilot_state(self, pilot_state: str) -> None:
        """Every pilot state hal reports: CM_VALIDATE counts the EV's B -> C toggles."""
        self._driver.command(lambda now: self.machine.pilot(pilot_state, now))


class EvSlac:
    """The EV side over `link` to the EV's own modem (simulation, commissioning)."""

    def __init__(
        self,
        link: Link,
        config: EvSlacConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.machine = EvSlacMachine(link.mac, config)
        self._driver = SlacDriver(self.machine, link, clock)
        self.events = self._driver.events

    async def run(self) -> None:
        await self._driver.run()

    def start(self) -> None:
        self._driver.command(self.machine.start)

    def stop(self) -> None:
        def stop(now: float) -> list[Output]:
            self.machine.stop()
            return []

        self._driver.command(stop)


async def wait_for_event(events: asyncio.Queue[Event], kinds: tuple[type[Event], ...]) -> Event:
    """The first event of one of `kinds` (others are skipped) or a MatchFailed/Dropped."""
    while True:
        event = await events.get()
        if isinstance(event, (*kinds, MatchFailed, MatchDropped)):
            return event
