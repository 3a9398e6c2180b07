"""`evse config check FILE`: validate a station config without touching any device.

It runs the very checks `evse run`, `evse hal` and `evse sim` run before they start (the
same `load_station`: URLs, certificates loaded, device-model variables) and fails with
the same exit code."""

from __future__ import annotations

import argparse
import sys

from evse.commands.common import EXIT_CONFIG
from evse.config import load_station
from hal.config_reader import ConfigError

HELP = "validate a station config file (evse config check FILE)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["check"])
    p.add_argument("file")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_station(args.file)
    except ConfigError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    units = ", ".join(f"{u.id} ({u.kind})" for u in cfg.hal.evses)
    print(f"{args.file}: ok (devices {cfg.hal.devices.mode}, EVSE {units})")
    return 0
