"""The DC output's own task (a DC EVSE whose stage has one): the newest DC command from
evse goes to the stage, the output's state comes back as `dc_report`.

Like `StageIo` it runs beside the protection path and never blocks it: a command is
handed over (`command`, no await) and sent by this task. Safety does not depend on it:
the current the stage delivers is capped by hal's setpoint, which the sample loop sets
to zero on any fault, trip or open contactor. When evse falls silent (keep-alive lost)
the output is commanded off here too, so no cable-check or precharge voltage stays on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hal.config import HalConfig
from hal.devices.base import DcStage, DcStageState, DeviceError
from hal.protocol import (
    DC_KINDS,
    E_REJECTED,
    E_UNKNOWN_EVSE,
    Ack,
    DcCommand,
    DcReport,
    Error,
    Message,
)

T = TypeVar("T")
_OFF = ("off", 0.0, 0.0)


class DcIo:
    def __init__(
        self,
        evse_id: int,
        stage: DcStage,
        publish: Callable[[Message], None],
        link_ok: Callable[[], bool],
        clock: Callable[[], float],
        *,
        timeout_s: float,
        period_s: float,
        report_period_s: float,
    ) -> None:
        self.evse_id = evse_id
        self.stage = stage
        self._publish = publish
        self._link_ok = link_ok
        self._clock = clock
        self._timeout = timeout_s
        self._period = period_s
        self._report_period = report_period_s
        self.want: tuple[str, float, float] = _OFF
        self._sent: tuple[str, float, float] | None = None
        self.state: DcStageState | None = None
        self.error: DeviceError | None = None
        self._reported: tuple[str, bool] | None = None
        self._report_t = -1e9
        self._wake = asyncio.Event()

    def command(self, msg: DcCommand) -> None:
        """Hand over the newest command; never waits."""
        self.want = (msg.kind, msg.target_v, msg.target_a)
        self._wake.set()

    async def _call(self, aw: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(aw, self._timeout)
        except TimeoutError:
            raise DeviceError(self.stage.name, f"no answer within {self._timeout:.3f} s") from None

    async def step(self) -> None:
        self._wake.clear()
        if not self._link_ok():  # evse silent: output off until it commands again
            self.want = _OFF
        want = self.want
        try:
            if want != self._sent:
                await self._call(self.stage.set_dc(*want))
                self._sent = want
            self.state, self.error = await self._call(self.stage.read_dc()), None
        except DeviceError as exc:
            self.error, self._sent = exc, None  # re-send once it answers again
        self._report(self._clock())

    def _report(self, now: float) -> None:
        s = self.state
        if self.error is not None or s is None:
            msg = DcReport(self.evse_id, self.want[0], 0.0, 0.0, "unknown", False, None, False)
            key = ("", False)
        else:
            msg = DcReport(self.evse_id, s.kind, s.present_v, s.present_a, s.isolation,
                           s.precharge_done, s.welding_v, True)
            key = (s.isolation, s.precharge_done)
        # Every report period, and at once when the isolation result or precharge changes.
        if key != self._reported or now - self._report_t >= self._report_period:
            self._reported, self._report_t = key, now
            self._publish(msg)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.step()
            if self._wake.is_set():
                continue
            timer = loop.call_later(self._period, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()


class DcUnits:
    """The daemon's DC side: one `DcIo` per EVSE with a DC output."""

    def __init__(self) -> None:
        self.ios: dict[int, DcIo] = {}

    def add(self, evse_id: int, stage: DcStage, cfg: HalConfig,
            publish: Callable[[Message], None], link_ok: Callable[[], bool],
            clock: Callable[[], float]) -> None:
        self.ios[evse_id] = DcIo(
            evse_id, stage, publish, link_ok, clock,
            timeout_s=cfg.devices.command_timeout_s, period_s=cfg.period_s,
            report_period_s=cfg.report_period_s)

    def handle(self, msg: DcCommand, known: bool) -> list[Message]:
        io = self.ios.get(msg.evse_id)
        if not known:
            return [Error(E_UNKNOWN_EVSE, f"no EVSE {msg.evse_id}", msg.TYPE)]
        if io is None:
            return [Error(E_REJECTED, f"EVSE {msg.evse_id} has no DC output", msg.TYPE,
                          msg.evse_id)]
        if msg.kind not in DC_KINDS:
            return [Error(E_REJECTED, f"kind {msg.kind!r} (one of {', '.join(DC_KINDS)})",
                          msg.TYPE, msg.evse_id)]
        io.command(msg)
        return [Ack(msg.TYPE, msg.evse_id)]

    def tasks(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(io.run(), name=f"dc-{i}") for i, io in self.ios.items()]
