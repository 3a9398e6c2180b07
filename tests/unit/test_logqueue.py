"""The log path (evse/logqueue.py): repeats are limited per kind and counted, and a
stream nobody reads makes the logger drop and count, never wait."""

from __future__ import annotations

import io
import logging
import os
import queue
import threading

from evse.logqueue import DroppingQueueHandler, LogWriter, RateLimit
from tests.conftest import WAIT_S


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _record(msg: str, *args: object, name: str = "hal.server") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_rate_limit_passes_a_burst_then_counts_per_kind() -> None:
    clock = FakeClock()
    rate = RateLimit(burst=3, window_s=10.0, clock=clock)
    passed = [rate.filter(_record("%s: bad message: %s", "c1", i)) for i in range(100)]
    assert passed.count(True) == 3 and passed[:3] == [True] * 3
    # another kind has its own budget: a flood of one does not drown the others
    assert rate.filter(_record("evse %d: meter read failed", 1))
    assert rate.filter(_record("%s: bad message: %s", "c1", 0, name="hal.daemon"))
    assert rate.summaries() == []  # the window is still open
    clock.t = 10.0
    (summary,) = rate.summaries()
    assert summary.getMessage() == "97 similar lines suppressed (last: c1: bad message: 99)"
    assert (summary.name, summary.levelno) == ("hal.server", logging.WARNING)
    assert rate.filter(_record("%s: bad message: %s", "c1", 100))  # a new window


def test_rate_limit_reports_everything_at_exit() -> None:
    rate = RateLimit(burst=1, window_s=10.0, clock=FakeClock())
    for i in range(5):
        rate.filter(_record("x %d", i))
    assert [r.getMessage() for r in rate.summaries(everything=True)] == [
        "4 similar lines suppressed (last: x 4)"
    ]


def test_a_stream_nobody_reads_never_blocks_the_logger() -> None:
    r, w = os.pipe()
    stream = io.TextIOWrapper(io.FileIO(w, "w"), write_through=True)
    q: queue.Queue[logging.LogRecord | None] = queue.Queue(50)
    handler = DroppingQueueHandler(q)
    rate = RateLimit()
    handler.addFilter(rate)
    writer = LogWriter(q, handler, rate, logging.Formatter("%(message)s"), stream)
    handler.writer = writer
    writer.start()
    log = logging.getLogger("test.logqueue")
    log.propagate = False
    log.addHandler(handler)
    try:

        def flood() -> None:  # distinct kinds, so only the queue bound can save us
            for i in range(5000):
                log.warning(f"line {i} " + "x" * 100)

        t = threading.Thread(target=flood, daemon=True)
        t.start()
        t.join(WAIT_S)
        assert not t.is_alive(), "logging blocked on a full pipe"
        # the reader comes back: the writer catches up and says how many it dropped
        got = b""
        while b"log lines dropped" not in got:
            chunk = os.read(r, 65536)
            assert chunk, "writer ended without reporting the drops"
            got += chunk
        assert b"line 0 " in got
    finally:
        log.removeHandler(handler)
        os.set_blocking(r, False)  # let the writer finish: drain what it still writes
        handler.close()
        os.close(r)
        stream.close()
