"""Our car as a child process in its own network namespace (`evse sim --netns`): the
same face to the orchestrator as the in-process SimCar (status, unplug, want, run, the
trace), behind evse/sim/ev/car_process.py's JSON lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evse.sim.ev.car import CarStatus
from evse.sim.ev.car_process import plan_to_json, status_from_json
from evse.sim.ev.plan import CarPlan
from evse.sim.netns import Side

STOP_S = 20.0  # SIGTERM, then this long before SIGKILL (the car unplugs on its way out)


class CarProcess:
    def __init__(self, plan: CarPlan, side: Side, control: Path, evse_id: int,
                 on_trace: Callable[[dict[str, Any]], None], log: Path) -> None:
        if side.slac_if is None:
            raise ValueError("the car's side has no modem interface (station_netns(modems=True))")
        self.spec = {"plan": plan_to_json(plan), "control": str(control), "evse_id": evse_id,
                     "slac_iface": side.slac_if, "iso_iface": side.ip_if, "sdp_port": 15118}
        self.side = side
        self.status = CarStatus("unplugged", plan.soc_start, plan.service, plan.control_mode)
        self._on_trace = on_trace
        self._log = log
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: list[str] = []  # commands before the process is there

    def unplug(self) -> None:
        self._send("unplug")

    def want(self, power_w: float) -> None:
        self._send(f"want {power_w!r}")

    def _send(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None:
            self._pending.append(line)
            return
        with contextlib.suppress(ConnectionError):  # it ended meanwhile: nothing to tell
            proc.stdin.write(line.encode() + b"\n")

    async def run(self) -> None:
        """Start the car in its namespace and follow it until it exits; cancelled: the
        process is stopped (SIGTERM: it unplugs) and reaped before this returns."""
        argv = self.side.argv(sys.executable, "-m", "evse.sim.ev.car_process",
                              json.dumps(self.spec))
        with self._log.open("ab") as logf:
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=logf, limit=1 << 22)
        try:
            for line in self._pending:
                self._send(line)
            self._pending.clear()
            assert self._proc.stdout is not None
            while raw := await self._proc.stdout.readline():
                self._on_line(raw)
            await self._proc.wait()
        finally:
            await self._reap()

    def _on_line(self, raw: bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            return  # not ours (a stray print): the log has stderr
        if not isinstance(msg, dict):
            return
        if isinstance(msg.get("trace"), dict):
            self._on_trace(msg["trace"])
        elif isinstance(msg.get("status"), dict):
            status_from_json(msg["status"], self.status)

    async def _reap(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            except asyncio.CancelledError:
                # Cancelled again (leave() pulls the plug): no car outlives the run.
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                raise
        self.status.plugged = False
        self.status.stage = "ended"
