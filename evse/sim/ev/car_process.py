"""`python -m evse.sim.ev.car_process SPEC_JSON`: our car (SimCar) as a process of its own,
so it can run inside another network namespace (`evse sim --netns`: the car's side of
the veth pairs, SLAC on a raw socket toward its simulated modem, SDP on link-local).

SPEC_JSON: {"plan": CarPlan as a dict, "control": hal's sim control socket (a Unix socket
path: it works across namespaces), "evse_id": 1, "iso_iface": "...", "sdp_port": 15118,
"slac_iface": "..." (or "slac_link": a unix powerline directory)}.

Out, one JSON object a line on stdout: {"trace": {...}} for each of SimCar's trace dicts,
{"status": {...}} (CarStatus) whenever it changed, and a last status before the exit.
In, one command a line on stdin: `unplug` (the driver leaves: SessionStop, then the
plug comes out; also on end of input) and `want W` (+ charge, - discharge, W).
Exit 0 after the car's run ended, 2 on a bad spec. SIGTERM: the car unplugs at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Protocol

from evse.sim.ev.car import CarStatus, SimCar
from evse.sim.ev.config import PowerStep
from evse.sim.ev.plan import CarPlan
from hal.sim.control_client import SimControl

STATUS_EVERY_S = 0.2


def plan_to_json(plan: CarPlan) -> dict[str, Any]:
    return asdict(plan)


def plan_from_json(data: dict[str, Any]) -> CarPlan:
    known = {f.name for f in fields(CarPlan)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"plan: unknown keys {sorted(unknown)}")
    steps = tuple(PowerStep(float(s["at_s"]), float(s["power_w"])) for s in data.get("power", []))
    return CarPlan(**{**data, "power": steps or CarPlan().power})


def status_from_json(data: dict[str, Any], into: CarStatus) -> None:
    """A status line from the car process into the orchestrator's copy."""
    for f in fields(CarStatus):
        if f.name in data:
            setattr(into, f.name, data[f.name])


def _emit(kind: str, value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({kind: value}, default=str) + "\n")
    sys.stdout.flush()


class Driven(Protocol):
    def unplug(self) -> None: ...
    def want(self, power_w: float) -> None: ...


async def _stdin() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def commands(car: Driven, reader: asyncio.StreamReader) -> None:
    """The orchestrator's commands, a line each, until the end of input."""
    while line := (await reader.readline()).decode().strip():
        word, _, arg = line.partition(" ")
        if word == "unplug":
            car.unplug()
        elif word == "want":
            try:
                car.want(float(arg))
            except ValueError:
                print(f"car_process: bad power {arg!r}", file=sys.stderr)
        else:
            print(f"car_process: unknown command {line!r}", file=sys.stderr)
    car.unplug()  # the orchestrator went away: the driver leaves


async def _statuses(car: SimCar) -> None:
    last: dict[str, Any] = {}
    while True:
        now = asdict(car.status)
        if now != last:
            _emit("status", now)
            last = now
        await asyncio.sleep(STATUS_EVERY_S)


async def _main(spec: dict[str, Any]) -> int:
    plan = plan_from_json(spec["plan"])
    control = SimControl(Path(spec["control"]))
    car = SimCar(plan, control, int(spec.get("evse_id", 1)), Path(spec.get("slac_link", ".")),
                 str(spec["iso_iface"]), int(spec.get("sdp_port", 15118)),
                 lambda rec: _emit("trace", rec), slac_iface=spec.get("slac_iface"))
    run = asyncio.create_task(car.run(), name="car")
    # SIGTERM: cancelled, so SimCar's way out (unplug through hal's control socket) runs.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, run.cancel)
    helpers = [asyncio.create_task(commands(car, await _stdin())),
               asyncio.create_task(_statuses(car))]
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await run
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        _emit("status", asdict(car.status))
        await control.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        spec = json.loads(args[0])
        if not isinstance(spec, dict) or not {"plan", "control", "iso_iface"} <= set(spec):
            raise ValueError("a JSON object with 'plan', 'control' and 'iso_iface'")
        plan_from_json(spec["plan"])
    except (IndexError, ValueError, TypeError, KeyError) as exc:
        print(f"car_process: bad spec: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_main(spec))


if __name__ == "__main__":
    sys.exit(main())
