"""An async client of hal's simulated-world control socket (hal/sim/control.py,
docs/sim-control.md): typed methods, one request at a time, reconnecting on the next
call after hal went away (commands are idempotent: re-send the world's state).

    ctl = SimControl("var/sim/world.sock")
    await ctl.plug(1, pp_a=32, soc_pct=40)
    state = await ctl.state()
    state.evses[1].cp, state.evses[1].duty_pct, state.grid_hz
    await ctl.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SimControlError(RuntimeError):
    """hal refused the command (the message says why) or is not reachable."""


@dataclass(frozen=True, slots=True)
class EvseWorld:
    cp: str  # IEC 61851-1 pilot state A..F as the simulated EV sees it
    duty_pct: float  # the PWM hal generates (100: X1, 0: state F)
    plugged: bool
    pp_a: float
    s2: bool  # the EV asks for power (B -> C under PWM)
    contactor_closed: bool
    active_w: float  # + into the car
    soc_pct: float | None  # the DC battery's, when the EVSE has one ([sim.dc])
    dc_v: float | None
    dc_a: float | None


@dataclass(frozen=True, slots=True)
class WorldState:
    t_s: float  # seconds on the sim's scripted timeline
    grid_hz: float
    grid_v: tuple[float, ...]
    evses: dict[int, EvseWorld]


def _evse_world(d: dict[str, Any]) -> EvseWorld:
    return EvseWorld(
        cp=str(d["cp"]), duty_pct=float(d["duty_pct"]), plugged=bool(d["plugged"]),
        pp_a=float(d["pp_a"]), s2=bool(d["s2"]), contactor_closed=bool(d["contactor_closed"]),
        active_w=float(d["active_w"]), soc_pct=d.get("soc_pct"), dc_v=d.get("dc_v"),
        dc_a=d.get("dc_a"))


class SimControl:
    def __init__(self, path: str | Path, timeout_s: float = 5.0) -> None:
        self.path = str(path)
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._next_id = 0

    async def _request(self, cmd: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            self._next_id += 1
            cmd = {**cmd, "id": self._next_id}
            try:
                async with asyncio.timeout(self.timeout_s):
                    if self._writer is None:
                        self._reader, self._writer = await asyncio.open_unix_connection(
                            self.path)
                    assert self._reader is not None
                    self._writer.write(json.dumps(cmd).encode() + b"\n")
                    await self._writer.drain()
                    line = await self._reader.readline()
            except (OSError, TimeoutError) as exc:
                await self._drop()
                raise SimControlError(f"{self.path}: {exc or type(exc).__name__}") from exc
            if not line:
                await self._drop()
                raise SimControlError(f"{self.path}: hal closed the control connection")
            reply: dict[str, Any] = json.loads(line)
            if reply.get("id") != cmd["id"]:
                await self._drop()
                raise SimControlError(f"{self.path}: reply out of order: {reply}")
            if not reply.get("ok"):
                raise SimControlError(f"{cmd['cmd']}: {reply.get('error')}")
            return reply

    async def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    # ---- the EV on the cable --------------------------------------------------------

    async def plug(self, evse: int, pp_a: float = 32.0, soc_pct: float | None = None) -> EvseWorld:
        """Plug the EV in (IEC 61851-1 state B; PP coded for `pp_a`); `soc_pct` sets the
        DC battery's charge when it arrives (ignored when already plugged)."""
        cmd: dict[str, Any] = {"cmd": "plug", "evse": evse, "pp_a": pp_a}
        if soc_pct is not None:
            cmd["soc_pct"] = soc_pct
        return _evse_world(await self._request(cmd))

    async def unplug(self, evse: int) -> EvseWorld:
        return _evse_world(await self._request({"cmd": "unplug", "evse": evse}))

    async def s2(self, evse: int, closed: bool) -> EvseWorld:
        """The EV's S2: closed asks for power (state C under PWM), open stays in B."""
        return _evse_world(await self._request({"cmd": "s2", "evse": evse, "closed": closed}))

    # ---- the grid and the house ------------------------------------------------------

    async def grid_step(self, frequency_hz: float | None = None,
                        voltage_v: float | list[float] | None = None,
                        at: float | None = None) -> bool:
        """Grid values change at once (at `at`, monotonic; default now). False: that
        same event was already there."""
        return await self._grid("step", frequency_hz, voltage_v, at, None)

    async def grid_ramp(self, duration_s: float, frequency_hz: float | None = None,
                        voltage_v: float | list[float] | None = None,
                        at: float | None = None) -> bool:
        return await self._grid("ramp", frequency_hz, voltage_v, at, duration_s)

    async def grid_clear(self) -> None:
        """Drop the run-time grid events: the configured timeline again."""
        await self._request({"cmd": "grid", "kind": "clear"})

    async def _grid(self, kind: str, hz: float | None, volts: float | list[float] | None,
                    at: float | None, duration_s: float | None) -> bool:
        cmd: dict[str, Any] = {"cmd": "grid", "kind": kind}
        for key, value in (("frequency_hz", hz), ("voltage_v", volts), ("at", at),
                           ("duration_s", duration_s)):
            if value is not None:
                cmd[key] = value
        return bool((await self._request(cmd))["added"])

    async def house(self, watts: float | None) -> None:
        """The house load behind the grid meter (+ consumes); None: the config's again."""
        await self._request({"cmd": "house", "w": watts})

    async def state(self) -> WorldState:
        d = await self._request({"cmd": "state"})
        return WorldState(
            t_s=float(d["t_s"]),
            grid_hz=float(d["grid"]["frequency_hz"]),
            grid_v=tuple(float(v) for v in d["grid"]["voltage_v"]),
            evses={int(k): _evse_world(v) for k, v in d["evses"].items()},
        )
