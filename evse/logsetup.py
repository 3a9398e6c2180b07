"""Logging: one logger per module, plain lines to stderr; journald adds the time.

Non-blocking and rate-limited (evse/logqueue.py): a caller never waits on stderr, and one
message repeated (a garbage flood on the contract, a device that stays down) is
written a few times per window with a count of what was suppressed."""

from __future__ import annotations

import atexit
import logging
import queue
import sys

from evse.config import LoggingConfig
from evse.logqueue import QUEUE_RECORDS, DroppingQueueHandler, LogWriter, RateLimit


def setup_logging(cfg: LoggingConfig | None, prefix: str = "") -> None:
    root = logging.getLogger()
    for old in root.handlers:
        old.close()  # a previous setup's writer thread ends here
    q: queue.Queue[logging.LogRecord | None] = queue.Queue(QUEUE_RECORDS)
    handler = DroppingQueueHandler(q)
    rate = RateLimit()
    handler.addFilter(rate)
    fmt = logging.Formatter(f"{prefix}%(levelname)s %(name)s: %(message)s")
    handler.writer = LogWriter(q, handler, rate, fmt, sys.stderr)
    handler.writer.start()
    root.handlers[:] = [handler]
    root.setLevel(cfg.level if cfg else logging.INFO)
    for name, level in (cfg.modules if cfg else {}).items():
        logging.getLogger(name).setLevel(level)
    atexit.register(handler.close)  # write what is queued at a normal exit
