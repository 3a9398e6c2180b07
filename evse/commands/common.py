"""What every long-running subcommand does first: load the config or exit non-zero."""

from __future__ import annotations

import sys

from evse.config import StationConfig, load_station
from evse.logsetup import setup_logging
from hal.config_reader import ConfigError

# Every command exits with this code on an invalid config, before it creates a state
# directory or opens a device (2: as argparse does for a bad command line).
EXIT_CONFIG = 2


def load_or_exit(path: str, prefix: str = "") -> StationConfig | None:
    """The config, with logging set up; None (after printing why) when it is invalid."""
    try:
        cfg = load_station(path)
    except ConfigError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return None
    setup_logging(cfg.logging, prefix)
    return cfg
