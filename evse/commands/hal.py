"""`evse hal --config FILE`: the hal daemon (devices, grid functions, the contract)."""

from __future__ import annotations

import argparse
import asyncio

from evse.commands.common import EXIT_CONFIG, load_or_exit
from hal.daemon import serve

HELP = "run the hal daemon (owns the hardware)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="station config (TOML)")


def run(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    if cfg is None:
        return EXIT_CONFIG
    return asyncio.run(serve(cfg.hal))
