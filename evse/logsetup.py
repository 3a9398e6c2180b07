"""Logging: one logger per module, plain lines to stderr; journald adds the time."""

from __future__ import annotations

import logging
import sys

from evse.config import LoggingConfig


def setup_logging(cfg: LoggingConfig | None, prefix: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prefix}%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.level if cfg else logging.INFO)
    for name, level in (cfg.modules if cfg else {}).items():
        logging.getLogger(name).setLevel(level)
