"""The simulated world's control socket (`[sim] control_socket`, sim modes only).

JSON lines over a Unix stream socket: one command object per line in, one reply object
per line out, in order. Every command is idempotent (the world's state, not a delta), so
an orchestrator can re-send the whole state after hal restarts. The protocol is in
docs/sim-control.md; `apply()` is the sans-IO core, `serve_control()` the adapter.

    {"cmd": "plug", "evse": 1, "pp_a": 32, "soc_pct": 40}   -> {"ok": true, ...}
    {"cmd": "unplug", "evse": 1}
    {"cmd": "s2", "evse": 1, "closed": true}                 # the EV wants power (C)
    {"cmd": "grid", "kind": "step", "frequency_hz": 50.5}    # or "ramp" + duration_s;
                                                             # "at": monotonic start
    {"cmd": "grid", "kind": "clear"}                         # run-time events dropped
    {"cmd": "house", "w": 2500}                              # null: the config's again
    {"cmd": "state"}                                         # the world, read only

A bad line gets {"ok": false, "error": "..."} and changes nothing; the connection stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hal.sim.ev_battery import SimEvBattery
from hal.sim.grid import GridEvent
from hal.sim.world import SimEvse, SimWorld

log = logging.getLogger(__name__)

PP_AMPACITIES = (13.0, 20.0, 32.0, 63.0, 70.0)  # IEC 61851-1 cable codings
_MAX_LINE = 4096


class CommandError(ValueError):
    """A command hal cannot carry out: the reply names why; nothing changed."""


def _num(cmd: dict[str, Any], key: str, lo: float, hi: float,
         default: float | None = None) -> float:
    value = cmd.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandError(f"{key}: expected a number, got {value!r}")
    if not lo <= value <= hi:
        raise CommandError(f"{key}: {value} is outside {lo}..{hi}")
    return float(value)


def _evse(world: SimWorld, cmd: dict[str, Any]) -> SimEvse:
    eid = cmd.get("evse")
    if isinstance(eid, bool) or not isinstance(eid, int) or eid not in world.evses:
        raise CommandError(f"evse: no simulated EVSE {eid!r} (have {sorted(world.evses)})")
    return world.evses[eid]


def _plug(world: SimWorld, cmd: dict[str, Any], now: float) -> dict[str, Any]:
    ev = _evse(world, cmd)
    pp = _num(cmd, "pp_a", 0.0, 100.0, ev.mcu.pp_ampacity_a)
    if pp not in PP_AMPACITIES:
        raise CommandError(f"pp_a: {pp} is not one of 13, 20, 32, 63, 70 (IEC 61851-1)")
    soc = _num(cmd, "soc_pct", 0.0, 100.0) if "soc_pct" in cmd else None
    if soc is not None and ev.stage.dc is None:
        raise CommandError("soc_pct: this EVSE has no simulated DC battery ([sim.dc])")
    world.advance(now)
    was_plugged = ev.mcu.plugged_at(now)
    ev.mcu.plugged_override = True
    ev.mcu.pp_override_a = pp
    if soc is not None and ev.stage.dc is not None and not was_plugged:
        # The battery is the car's: set when it arrives, not by a re-sent plug command.
        battery = ev.stage.dc.battery
        battery_model = replace(battery.model, soc_pct=soc)
        ev.stage.dc.battery = SimEvBattery(battery_model)
    ev.mcu.advance(now, world.last_sample)
    return _evse_state(ev, now)


def _unplug(world: SimWorld, cmd: dict[str, Any], now: float) -> dict[str, Any]:
    ev = _evse(world, cmd)
    ev.mcu.plugged_override = False
    ev.mcu.ev_wants_power = True  # the next car arrives with S2 as the config says
    ev.mcu.advance(now, world.last_sample)
    return _evse_state(ev, now)


def _s2(world: SimWorld, cmd: dict[str, Any], now: float) -> dict[str, Any]:
    ev = _evse(world, cmd)
    closed = cmd.get("closed")
    if not isinstance(closed, bool):
        raise CommandError(f"closed: expected true or false, got {closed!r}")
    ev.mcu.ev_wants_power = closed
    ev.mcu.advance(now, world.last_sample)
    return _evse_state(ev, now)


def _grid(world: SimWorld, cmd: dict[str, Any], now: float) -> dict[str, Any]:
    kind = cmd.get("kind")
    if kind == "clear":
        world.grid.live.clear()
        return {}
    if kind not in ("step", "ramp"):
        raise CommandError(f"kind: expected step, ramp or clear, got {kind!r}")
    duration = _num(cmd, "duration_s", 0.001, 86400.0) if kind == "ramp" else 0.0
    phases = world.cfg.grid.phases
    volts: tuple[float, ...] | None = None
    if "voltage_v" in cmd:
        raw = cmd["voltage_v"]
        vals = raw if isinstance(raw, list) else [raw]
        parsed = [_num({"v": v}, "v", 0.0, 1000.0) for v in vals]
        if len(parsed) not in (1, phases):
            raise CommandError(f"voltage_v: one or {phases} values")
        volts = tuple(parsed * phases if len(parsed) == 1 else parsed)
    freq = _num(cmd, "frequency_hz", 1.0, 100.0) if "frequency_hz" in cmd else None
    if volts is None and freq is None:
        raise CommandError("a grid event needs voltage_v or frequency_hz")
    start = _num(cmd, "at", 0.0, 1e12) if "at" in cmd else now
    added = world.grid.add_live(start, GridEvent(0.0, kind, duration, volts, freq))
    return {"at": start, "added": added}


def _house(world: SimWorld, cmd: dict[str, Any], now: float) -> dict[str, Any]:
    if world.grid_meter is None:
        raise CommandError("house: this site has no grid meter ([sim.grid_meter])")
    w = cmd.get("w")
    world.house_override_w = None if w is None else _num(cmd, "w", -1e6, 1e6)
    return {"house_w": world.house_override_w}


def _evse_state(ev: SimEvse, now: float) -> dict[str, Any]:
    mcu, stage = ev.mcu, ev.stage
    out: dict[str, Any] = {
        "cp": mcu.cp_state.value,
        "duty_pct": mcu.pwm_duty_pct,
        "plugged": mcu.plugged_at(now),
        "pp_a": mcu.pp_ampacity_a,
        "s2": mcu.ev_wants_power,
        "contactor_closed": mcu.contactor_closed,
        "active_w": stage.active_w,
        "setpoint_w": stage.setpoint_w,
    }
    if stage.dc is not None:
        out |= {"soc_pct": stage.dc.battery.soc_pct, "dc_v": stage.dc.present_v,
                "dc_a": stage.dc.present_a}
    return out


def _state(world: SimWorld, cmd: dict[str, Any], now: float) -> dict[str, Any]:
    sample = world.advance(now)
    return {
        "t_s": now - world.started_at,
        "grid": {"frequency_hz": sample.frequency_hz, "voltage_v": list(sample.voltage_v)},
        "evses": {str(eid): _evse_state(ev, now) for eid, ev in world.evses.items()},
    }


_COMMANDS: dict[str, Callable[[SimWorld, dict[str, Any], float], dict[str, Any]]] = {
    "plug": _plug, "unplug": _unplug, "s2": _s2, "grid": _grid, "house": _house,
    "state": _state,
}


def apply(world: SimWorld, line: bytes, now: float) -> dict[str, Any]:
    """One command line in, its reply out (never raises on bad input)."""
    try:
        cmd = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        return {"ok": False, "error": f"not JSON: {exc}"}
    if not isinstance(cmd, dict):
        return {"ok": False, "error": "a command is a JSON object"}
    reply: dict[str, Any] = {"ok": False}
    if "id" in cmd:
        reply["id"] = cmd["id"]
    handler = _COMMANDS.get(cmd.get("cmd"))  # type: ignore[arg-type]
    if handler is None:
        reply["error"] = f"cmd: {cmd.get('cmd')!r} is not one of {', '.join(_COMMANDS)}"
        return reply
    try:
        reply |= handler(world, cmd, now)
    except CommandError as exc:
        reply["error"] = str(exc)
        return reply
    reply["ok"] = True
    return reply


async def serve_control(path: Path, world: SimWorld, clock: Callable[[], float]) -> None:
    """Serve the control socket until cancelled (one of hal's supervised tasks)."""

    writers: set[asyncio.StreamWriter] = set()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while line := await reader.readline():
                if len(line) > _MAX_LINE:
                    reply: dict[str, Any] = {"ok": False, "error": "line too long"}
                else:
                    reply = apply(world, line, clock())
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError) as exc:  # ValueError: a line over the limit
            log.info("sim control client gone: %s", exc)
        finally:
            writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(client, str(path), limit=_MAX_LINE * 2)
    log.info("sim control socket on %s", path)
    try:
        await asyncio.Event().wait()  # until cancelled
    finally:
        server.close()
        for w in writers:  # the clients see the end (and reconnect to the next hal)
            w.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
