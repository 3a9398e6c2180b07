"""One simulated station, whole: hal (`HalDaemon` on in-process simulated devices) and the
real `Controller` with its OCPP client, both in this process's event loop, linked by the
hal contract over their own Unix socket, exactly as `evse hal` and `evse run` are.

`run()` returns when `stop` is set and both parts have stopped; it raises
`StationFailed` naming the part when hal ends on its own or the controller's supervision
gives up, so the fleet reports it.
"""

from __future__ import annotations

import asyncio

from evse.config import StationConfig
from evse.controller import Controller
from evse.sim.station_state import StationFailed, StationState, ocpp_state
from hal.daemon import HalDaemon
from hal.sdnotify import Notifier

_HAL_STOP_S = 10.0  # bound on hal reaching power zero + contactors open at the end


class FullStation:
    kind = "full"

    def __init__(self, station_id: str, cfg: StationConfig) -> None:
        self.station_id = station_id
        self.cfg = cfg
        # N stations in one process: none of them may talk to systemd's notify socket.
        self.hal = HalDaemon(cfg.hal, Notifier({}))
        self.controller = Controller(cfg, notifier=Notifier({}))

    def state(self) -> StationState:
        lost = sum(
            1 for v in self.controller.evses.values() for e in v.events
            if e.kind == "keepalive_lost"
        )  # the view keeps the last 100 events: ample for an edge this rare
        return ocpp_state(self.controller.ocpp_station, self.hal.overruns, lost)

    async def run(self, stop: asyncio.Event) -> None:
        hal_stop = asyncio.Event()
        own_stop = asyncio.Event()  # the controller sets it when it ends: ours alone
        hal_task = asyncio.create_task(self.hal.run(hal_stop), name=f"{self.station_id}-hal")
        ctrl_task = asyncio.create_task(
            self.controller.run(own_stop, on_status=lambda _line: None),
            name=f"{self.station_id}-controller",
        )
        stopped = asyncio.create_task(stop.wait())
        failure: str | None = None
        try:
            done, _ = await asyncio.wait(
                {hal_task, ctrl_task, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
            if hal_task in done:
                failure = _problem("hal", hal_task) or "hal ended on its own"
            elif ctrl_task in done:
                failure = self.controller.failed or _problem("controller", ctrl_task)
                failure = failure or "the controller ended on its own"
        finally:
            stopped.cancel()
            # The controller first (it leaves hal at zero power, contactor released);
            # its run always ends once its stop is set.
            own_stop.set()
            await asyncio.wait({ctrl_task})
            failure = failure or self.controller.failed or _problem("controller", ctrl_task)
            hal_stop.set()
            done, _ = await asyncio.wait({hal_task}, timeout=_HAL_STOP_S)
            if not done:
                hal_task.cancel()
                await asyncio.wait({hal_task})
                failure = failure or f"hal did not stop within {_HAL_STOP_S} s"
            failure = failure or _problem("hal", hal_task)
        if failure is not None:
            raise StationFailed(self.station_id, failure)


def _problem(part: str, task: asyncio.Task[object]) -> str | None:
    """Why a finished part failed (its exception is reported, never dropped), or None
    when it ended cleanly."""
    if task.cancelled():
        return f"{part} was cancelled"
    exc = task.exception()
    if exc is not None:
        return f"{part} failed: {exc!r}"
    result = task.result()
    if isinstance(result, int) and result != 0:
        return f"{part} exited with {result}"
    return None
