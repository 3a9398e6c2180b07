"""Logging that never blocks the caller: records go into a bounded queue and a writer
thread puts them on stderr (journald). When the writer falls behind (a slow journald, a
pipe nobody reads) new records are dropped and counted, never waited for; the count is
written as soon as the writer catches up. Repeats are limited before they are queued
(`RateLimit`), so a flood of one message cannot crowd out the others.

Used by both processes: hal's sample loop must not wait on a log handler (see
docs/hal-contract.md and the README's safety section).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from logging.handlers import QueueHandler
from typing import TextIO

QUEUE_RECORDS = 1000  # about a minute of a busy station's lines; beyond: drop and count
BURST = 5  # records of one kind (logger, level, template) per window ...
WINDOW_S = 10.0  # ... then suppressed and counted until the window ends


@dataclass(slots=True)
class _Window:
    start: float
    passed: int = 0
    suppressed: int = 0
    sample: logging.LogRecord | None = None


class RateLimit(logging.Filter):
    """At most `burst` records per (logger, level, message template) per `window_s`. The
    rest are counted; `summaries()` turns the counts of ended windows into one record
    each ("N similar lines suppressed"), so nothing vanishes without a trace."""

    def __init__(
        self,
        burst: int = BURST,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = 512,
    ) -> None:
        super().__init__()
        self._burst = burst
        self._window_s = window_s
        self._clock = clock
        self._max_kinds = max_kinds
        self._kinds: dict[tuple[str, int, str], _Window] = {}
        self._pending: list[logging.LogRecord] = []  # summaries not yet written
        self._lock = threading.Lock()  # hal logs from the loop and from worker threads

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            w = self._kinds.get(key)
            if w is None or now - w.start >= self._window_s:
                if w is not None and w.suppressed:
                    self._pending.append(_summary(w, key))
                if w is None and len(self._kinds) >= self._max_kinds:
                    self._expire(now)
                w = self._kinds[key] = _Window(now)
            if w.passed < self._burst:
                w.passed += 1
                return True
            w.suppressed += 1
            w.sample = record
            return False

    def _expire(self, now: float, everything: bool = False) -> None:
        for key, w in list(self._kinds.items()):
            if everything or now - w.start >= self._window_s:
                if w.suppressed:
                    self._pending.append(_summary(w, key))
                del self._kinds[key]
        if len(self._kinds) >= self._max_kinds:  # all busy: forget the oldest
            oldest = min(self._kinds, key=lambda k: self._kinds[k].start)
            w = self._kinds.pop(oldest)
            if w.suppressed:
                self._pending.append(_summary(w, oldest))

    def summaries(self, everything: bool = False) -> list[logging.LogRecord]:
        """Records that report what ended windows (or, at exit, all) suppressed."""
        with self._lock:
            self._expire(self._clock(), everything)
            out, self._pending = self._pending, []
        return out


def _summary(w: _Window, key: tuple[str, int, str]) -> logging.LogRecord:
    name, level, template = key
    last = w.sample.getMessage() if w.sample is not None else template
    return logging.LogRecord(
        name,
        level,
        __file__,
        0,
        "%d similar lines suppressed (last: %s)",
        (w.suppressed, last),
        None,
    )


class DroppingQueueHandler(QueueHandler):
    """A QueueHandler whose put never waits: a full queue drops the record and counts."""

    def __init__(self, q: queue.Queue[logging.LogRecord | None]) -> None:
        super().__init__(q)
        self._dropped = 0
        self._count_lock = threading.Lock()
        self.writer: LogWriter | None = None

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            with self._count_lock:
                self._dropped += 1

    def take_dropped(self) -> int:
        with self._count_lock:
            n, self._dropped = self._dropped, 0
        return n

    def close(self) -> None:
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
        super().close()


class LogWriter:
    """The thread that writes queued records. It writes to the file descriptor itself
    (no handler lock), so a blocked stderr blocks only this thread, and interpreter
    exit does not wait on it longer than `stop`'s bound."""

    def __init__(
        self,
        q: queue.Queue[logging.LogRecord | None],
        source: DroppingQueueHandler,
        rate: RateLimit,
        formatter: logging.Formatter,
        stream: TextIO,
    ) -> None:
        self._q = q
        self._source = source
        self._rate = rate
        self._fmt = formatter
        self._stream = stream
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        try:
            self._q.put(None, timeout=timeout_s)
        except queue.Full:
            return  # the writer is stuck on its stream; the daemon thread dies with us
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            try:
                record = self._q.get(timeout=1.0)
            except queue.Empty:
                record = None
                stopping = False
            else:
                stopping = record is None
            dropped = self._source.take_dropped()
            if dropped:
                self._write(_dropped_record(dropped))
            for summary in self._rate.summaries(everything=stopping):
                self._write(summary)
            if record is not None:
                self._write(record)
            if stopping:
                return

    def _write(self, record: logging.LogRecord) -> None:
        data = (self._fmt.format(record) + "\n").encode("utf-8", "replace")
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (a test's buffer)
            self._stream.write(data.decode())
            self._stream.flush()
            return
        while data:
            try:
                n = os.write(fd, data)
            except InterruptedError:
                continue
            except OSError:
                return  # stderr gone: nothing sensible left to do with a log line
            data = data[n:]


def _dropped_record(n: int) -> logging.LogRecord:
    return logging.LogRecord(
        __name__,
        logging.WARNING,
        __file__,
        0,
        "%d log lines dropped: the log writer could not keep up",
        (n,),
        None,
    )
