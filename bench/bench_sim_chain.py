"""The car chain across processes, unprivileged (hal, `evse run`, our SimCar here):
plug-in -> SLAC LinkUp, plug-in -> first ChargeLoop with power, and after the controller
is killed (-9) mid-charge: kill -> hal's power at zero (keep-alive loss), restart of
`evse run` -> SLAC again -> a new session charging. BENCH_SIM_CHAIN_N runs (default 5);
median and max per span. The chain of tests/integration/station/test_sim_chain.py."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from evse.sim.ev.car import SimCar, leave
from hal.sim.control_client import SimControl, SimControlError
from tests.conftest import HalProcess
from tests.integration.station.test_sim_chain import (
    DC_CAR,
    _free_port,
    chain_config,
    start_evse,
    stop_evse,
)

LIMIT_S = 120.0


async def _until_world(ctl: SimControl, pred: object) -> float:
    async with asyncio.timeout(LIMIT_S):
        while True:
            try:
                ev = (await ctl.state()).evses[1]
            except SimControlError:
                ev = None
            if ev is not None and pred(ev):  # type: ignore[operator]
                return time.monotonic()
            await asyncio.sleep(0.02)


async def one_run(d: Path) -> dict[str, float]:
    sdp_port = _free_port()
    cfg = chain_config(d, sdp_port=sdp_port)
    hal = HalProcess(cfg).start()
    evse = await start_evse(cfg)
    ctl = SimControl(d / "world.sock")
    marks: dict[str, float] = {}

    def trace(event: dict[str, object]) -> None:
        if event["kind"] == "slac" and event.get("event") == "LinkUp":
            marks.setdefault("link_up", float(event["t"]))  # type: ignore[arg-type]

    car = SimCar(DC_CAR, ctl, 1, d / "plc", "lo", sdp_port, trace)
    await asyncio.sleep(3.0)  # the controller up and connected to hal
    plugged = time.monotonic()
    run = asyncio.create_task(car.run())
    try:
        charging = await _until_world(ctl, lambda ev: ev.active_w > 1000.0)
        killed = time.monotonic()
        evse.kill()
        await evse.wait()
        zero = await _until_world(ctl, lambda ev: abs(ev.active_w) < 50.0)
        matches = car.status.matches
        restarted = time.monotonic()
        evse = await start_evse(cfg)
        async with asyncio.timeout(LIMIT_S):
            while car.status.matches <= matches:  # noqa: ASYNC110 - polls the car
                await asyncio.sleep(0.02)
        rematched = time.monotonic()
        again = await _until_world(ctl, lambda ev: ev.active_w > 1000.0)
    finally:
        await leave(car, run, limit_s=10.0)
        await ctl.close()
        await stop_evse(evse)
        hal.stop(signal.SIGKILL)
    return {
        "plug -> SLAC LinkUp": marks["link_up"] - plugged,
        "plug -> power > 1 kW": charging - plugged,
        "kill -9 -> hal power < 50 W": zero - killed,
        "evse restart -> SLAC LinkUp": rematched - restarted,
        "evse restart -> power > 1 kW": again - restarted,
    }


def main() -> int:
    n = int(os.environ.get("BENCH_SIM_CHAIN_N", "5"))
    runs: list[dict[str, float]] = []
    for _ in range(n):
        with tempfile.TemporaryDirectory(prefix="evse-") as d:
            runs.append(asyncio.run(one_run(Path(d))))
    print(f"sim chain, {n} runs (s): median / max")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"  {key:32s} {statistics.median(values):6.2f} / {max(values):6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
