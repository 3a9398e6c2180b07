"""`[sim.car]` in `evse sim`: our car beside the station in the same process. It plugs in
`plug_in_at_s` after the start, runs (SLAC, SDP, -20) and leaves at `unplug_at_s` or
when `evse sim` stops; its milestones are printed beside the status lines."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from evse.config import StationConfig
from evse.sim.ev.car import SimCar, leave
from hal.sim.control_client import SimControl, SimControlError

_SHOWN = ("plug", "replug", "unplug", "slac", "session", "pilot", "link")


def car_for(cfg: StationConfig, on_trace: Callable[[dict[str, Any]], None]
            ) -> tuple[SimCar, SimControl]:
    car_cfg = cfg.sim_car
    assert car_cfg is not None and cfg.hal.sim is not None  # checked with the config
    assert cfg.hal.sim.control_socket is not None
    control = SimControl(cfg.hal.sim.control_socket)
    line = car_cfg.powerline or (cfg.slac.powerline if cfg.slac else None)
    iso = next((i for i in cfg.iso15118 if i.evse_id == car_cfg.evse_id), None)
    car = SimCar(car_cfg.plan, control, car_cfg.evse_id, line or cfg.path.parent,
                 iso.transport.interface if iso else "lo",
                 iso.transport.sdp_port if iso else 15118, on_trace)
    return car, control


def describe(event: dict[str, Any]) -> str | None:
    """One line for a milestone of the car's trace (None: not shown)."""
    kind = event["kind"]
    if kind not in _SHOWN:
        return None
    rest = {k: v for k, v in event.items() if k not in ("t", "kind", "evse")}
    words = " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in rest.items() if v not in ("", None))
    return f"car@EVSE{event['evse']}: {kind} {words}".rstrip()


async def run_beside(cfg: StationConfig, stop: asyncio.Event,
                     out: Callable[[str], None] = print) -> None:
    """Until `stop`: plug in, run, unplug (at `unplug_at_s` or on stop)."""
    car_cfg = cfg.sim_car
    if car_cfg is None:
        return

    def trace(event: dict[str, Any]) -> None:
        line = describe(event)
        if line is not None:
            out(line)

    car, control = car_for(cfg, trace)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), car_cfg.plug_in_at_s)
    if stop.is_set():
        return
    task = asyncio.create_task(car.run(), name="sim-car")
    try:
        limit = None if car_cfg.unplug_at_s is None else car_cfg.unplug_at_s - car_cfg.plug_in_at_s
        waiters = {asyncio.create_task(stop.wait()), task}
        done, pending = await asyncio.wait(waiters, timeout=limit,
                                           return_when=asyncio.FIRST_COMPLETED)
        for w in pending - {task}:
            w.cancel()
        if task in done and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, SimControlError):  # hal gone: nothing to plug into
                out(f"car@EVSE{car_cfg.evse_id}: {exc}")
                return
            raise exc  # type: ignore[misc]
    finally:
        await leave(car, task, limit_s=5.0)
        await control.close()
