"""The simulated world a scenario acts on, through hal's control socket
(docs/sim-control.md): grid events at the scenario's times, and the car (hal's simulated
EV, or our SimCar with SLAC and ISO 15118-20). It remembers what it told hal, so a hal
started again after a kill hears the same world (every command is idempotent)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from evse.sim.ev.car import CarStatus, SimCar, leave
from evse.sim.netns import Side
from evse.sim.scenario.car_party import CarProcess
from evse.sim.scenario.model import CarSpec
from evse.sim.scenario.trace import Trace
from hal.sim.control_client import SimControl, SimControlError

# SimCar's trace kinds -> the trace's sources
_SOURCES = {"v2g": "iso15118", "slac": "slac"}


class World:
    def __init__(self, control_path: Path, trace: Trace, car: CarSpec, sdp_port: int,
                 powerline: Path, car_side: Side | None = None) -> None:
        self.control_path = control_path
        self.car_side = car_side  # --netns: the car runs as a process in this namespace
        self.ctl = SimControl(control_path)
        self.trace = trace
        self.spec = car
        self.sdp_port = sdp_port
        self.powerline = powerline
        self._grid: list[dict[str, Any]] = []  # every event sent, with its monotonic `at`
        self.plugged = False
        self.car: SimCar | CarProcess | None = None
        self._car_task: asyncio.Task[None] | None = None

    # ---- the grid -----------------------------------------------------------------------

    async def grid(self, params: dict[str, Any], speed: float) -> None:
        ev: dict[str, Any] = {"at": time.monotonic()}
        for key in ("frequency_hz", "voltage_v"):
            if key in params:
                ev[key] = params[key]
        ramp = float(params.get("ramp_s", 0.0)) / speed  # hal runs in real time
        if ramp > 0:
            ev["duration_s"] = ramp
        self._grid.append(ev)
        await self._send_grid(ev)

    async def _send_grid(self, ev: dict[str, Any]) -> None:
        if "duration_s" in ev:
            await self.ctl.grid_ramp(ev["duration_s"], ev.get("frequency_hz"),
                                     ev.get("voltage_v"), ev["at"])
        else:
            await self.ctl.grid_step(ev.get("frequency_hz"), ev.get("voltage_v"), ev["at"])

    # ---- the car ------------------------------------------------------------------------

    async def plug(self) -> None:
        if self.plugged:
            return
        self.plugged = True
        if self.spec.model == "simcar":
            assert self.spec.plan is not None
            if self.car_side is not None:
                self.car = CarProcess(self.spec.plan, self.car_side, self.control_path,
                                      self.spec.evse_id, self._on_car_trace,
                                      self.powerline.parent / "car.log")
            else:
                self.car = SimCar(self.spec.plan, self.ctl, self.spec.evse_id,
                                  self.powerline, "lo", self.sdp_port, self._on_car_trace)
            self._car_task = asyncio.create_task(self.car.run(), name="sim-car")
        else:
            await self.ctl.plug(self.spec.evse_id, self.spec.pp_a)
            self.trace.add("car", event="plug", stage="plugged", note="hal's simulated EV")

    def want(self, power_w: float) -> None:
        """The car changes what it wants (+ charge, - discharge) from now on."""
        if self.car is None:
            raise RuntimeError("car.want before the car plugged in")
        self.car.want(power_w)

    async def unplug(self, abrupt: bool = False) -> None:
        """The driver leaves (SimCar: SessionStop first); `abrupt`: the cable is pulled
        in the middle of whatever runs, the car's side learns it last."""
        if not self.plugged:
            return
        self.plugged = False
        if abrupt:
            await self.ctl.unplug(self.spec.evse_id)
            self.trace.add("car", event="cable pulled")
        if self.car is not None and self._car_task is not None:
            await leave(self.car, self._car_task)  # SessionStop, then the plug comes out
            self._car_task = None
        else:
            await self.ctl.unplug(self.spec.evse_id)
            self.trace.add("car", event="unplug", stage="unplugged")

    def _on_car_trace(self, rec: dict[str, Any]) -> None:
        fields = {k: v for k, v in rec.items() if k != "t"}
        self.trace.add(_SOURCES.get(str(rec.get("kind")), "car"), **fields)

    def status(self) -> dict[str, Any] | None:
        """The car's own status (SimCar), for the status line, the plot and the checks."""
        if self.car is None:
            return None
        st: CarStatus = self.car.status
        return {"stage": st.stage, "soc_pct": round(st.soc_pct, 2), "target_w": st.target_w,
                "present_w": st.present_w, "last_error": st.last_error}

    # ---- hal started again --------------------------------------------------------------

    async def resend(self, limit_s: float = 30.0) -> None:
        """The world as it is, to a hal that just started (it knows nothing of it). The
        first calls may still meet the old hal's connection, or a socket not yet
        listening: tried again until `limit_s`."""
        async with asyncio.timeout(limit_s):
            while True:
                try:
                    await self._resend()
                    return
                except SimControlError:
                    await asyncio.sleep(0.1)

    async def _resend(self) -> None:
        for ev in self._grid:
            await self._send_grid(ev)
        if self.plugged:
            soc = self.car.status.soc_pct if self.car is not None and self.spec.plan and \
                self.spec.plan.dc else None
            await self.ctl.plug(self.spec.evse_id, self.spec.pp_a, soc)

    async def close(self) -> None:
        if self._car_task is not None:
            self._car_task.cancel()
            await asyncio.gather(self._car_task, return_exceptions=True)
        await self.ctl.close()


__all__ = ["SimControlError", "World"]
