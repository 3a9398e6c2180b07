"""`evse sim`: the station on simulated hardware: hal as a child process, the controller
here, one status line per second on stdout."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from evse.api.broker import embedded_broker
from evse.commands.common import EXIT_CONFIG, load_or_exit
from evse.config import StationConfig
from evse.controller import Controller
from evse.sim.ev.beside import run_beside

HELP = "run hal and the controller on simulated hardware, printing status lines"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "sim.toml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="station config (TOML)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many s")
    p.add_argument("--power-w", type=float, default=None, help="fixed power request in W")


async def _main(cfg: StationConfig, duration: float | None, power_w: float | None) -> int:
    hal = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evse.cli", "hal", "--config", str(cfg.path)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def _limits() -> None:
        # Stop on --duration, or when hal dies under us.
        hal_done = asyncio.create_task(hal.wait())
        timer = asyncio.create_task(asyncio.sleep(duration if duration is not None else 1e9))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({hal_done, timer, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for t in (hal_done, timer, stopped):
            t.cancel()
        await asyncio.gather(hal_done, timer, stopped, return_exceptions=True)
        stop.set()

    # [sim.car] without a CSMS: free vend has no OCPP Q01 to ask; the simulation lets the
    # car give power back (with [ocpp] the CSMS decides).
    v2x = cfg.sim_car is not None and cfg.sim_car.v2x_without_csms
    controller = Controller(cfg, power_w, may_discharge=lambda _: v2x)
    broker: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
    if cfg.mqtt is not None and cfg.mqtt.embedded_broker:
        broker = embedded_broker(cfg.mqtt.host, cfg.mqtt.port)
    try:
        async with broker:  # the local API's broker, unless the config names one
            await asyncio.gather(
                controller.run(stop, on_status=lambda line: print(line, flush=True)), _limits(),
                run_beside(cfg, stop, lambda line: print(line, flush=True)),  # [sim.car]
            )
    finally:
        if hal.returncode is None:
            hal.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(hal.wait(), 10.0)
            except TimeoutError:
                hal.kill()
                await hal.wait()
    if controller.failed is not None:
        print(f"evse sim: {controller.failed}", file=sys.stderr)
        return 1
    code = hal.returncode or 0
    if code != 0:
        print(f"evse sim: hal exited with {code}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config, prefix="")
    if cfg is None:
        return EXIT_CONFIG
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_main(cfg, args.duration, args.power_w))
    return 0
