"""`evse run --config FILE`: the station controller (talks to hal)."""

from __future__ import annotations

import argparse
import asyncio
import signal

from evse.commands.common import EXIT_CONFIG, load_or_exit
from evse.config import StationConfig
from evse.controller import Controller

HELP = "run the station controller"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="station config (TOML)")
    p.add_argument(
        "--power-w",
        type=float,
        default=None,
        help="power request in W (+ charges, - discharges); overrides the config",
    )


# A reset asked by the CSMS exits with this code: evse.service has Restart=on-failure,
# so systemd starts the controller again (EX_TEMPFAIL: "try again").
EXIT_RESTART = 75
# A part of the controller failed for good (evse.supervisor): systemd restarts us.
EXIT_FAILURE = 1


async def _main(cfg: StationConfig, power_w: float | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    controller = Controller(cfg, power_w)
    await controller.run(stop)
    if controller.failed is not None:
        return EXIT_FAILURE
    return EXIT_RESTART if controller.restart_requested else 0


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    if cfg is None:
        return EXIT_CONFIG
    return asyncio.run(_main(cfg, args.power_w))
