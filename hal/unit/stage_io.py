"""The power stage's own task: it writes the newest setpoint and reads the stage's state,
at its own pace, and holds the latest of each for the protection path.

The sample loop never awaits the stage: it hands over a setpoint (`command`, no await)
and looks at the newest state (`state`, `fault`). A stage that answers only at its
timeout, or not at all, slows this task alone. The stage is in fault when it has not
answered, or no state was read, for `stale_s` (3 command timeouts + one period): one
lost answer on the bus (a late reply to a settings write) is ridden through, a stage
that stays silent or keeps refusing is not. A new setpoint wakes the task at once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hal.devices.base import DeviceError, PowerStage, PowerStageState

T = TypeVar("T")
_RESEND_S = 1.0  # re-send an unchanged setpoint this often (a stage may time it out)


class StageIo:
    def __init__(
        self,
        stage: PowerStage,
        clock: Callable[[], float],
        *,
        timeout_s: float,
        period_s: float,
    ) -> None:
        self.stage = stage
        self._clock = clock
        self._timeout = timeout_s
        self._period = period_s
        # A state older than this is no state: a write and a read each up to the timeout.
        self.stale_s = 3.0 * timeout_s + period_s
        self.state: PowerStageState | None = None
        self.state_t = clock()
        self.ok_t = clock()  # last good round; start counts as good: the first is under way
        self.error: DeviceError | None = None
        self._want = (0.0, 0.0)
        self._sent: tuple[float, float] | None = None
        self._sent_t = -math.inf
        self._wake = asyncio.Event()

    def command(self, active_w: float, reactive_var: float) -> None:
        """Hand over the newest setpoint; never waits."""
        want = (active_w, reactive_var)
        if want != self._want:
            self._want = want
            self._wake.set()

    def fault(self, now: float) -> str | None:
        """Why the stage cannot be trusted now, or None."""
        age = now - min(self.ok_t, self.state_t)
        if age <= self.stale_s:
            return None
        if self.error is not None:
            return self.error.reason
        return f"no answer for {age:.2f} s (slower than {self.stale_s:.2f} s)"

    async def _call(self, aw: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(aw, self._timeout)
        except TimeoutError:
            raise DeviceError(self.stage.name, f"no answer within {self._timeout:.3f} s") from None

    async def step(self) -> None:
        """One round: the newest setpoint if it changed (or is due again), then a read."""
        self._wake.clear()
        want = self._want
        try:
            now = self._clock()
            if want != self._sent or now - self._sent_t >= _RESEND_S:
                await self._call(self.stage.set_power(*want))
                self._sent, self._sent_t = want, now
                self.ok_t = self._clock()
            # Always read after a write: a setpoint changing every sample (a droop ramp)
            # must not starve the state.
            st = await self._call(self.stage.read_state())
            self.state, self.state_t, self.error = st, self._clock(), None
            self.ok_t = self.state_t
        except DeviceError as exc:
            self.error = exc
            self._sent = None  # re-send once it answers again

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.step()
            if self._wake.is_set():
                continue
            # Sleep one period or until a new setpoint (a timer, not a wait_for task per
            # round: this runs every sample beside the protection path).
            timer = loop.call_later(self._period, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()
