"""A pty pair as a serial line: the simulated device owns the master fd, the driver opens
the slave by its path exactly as it would open /dev/ttyUSB0 on a board."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty

TX_BUFFER = 4096  # like a UART's transmit buffer: beyond this, whole frames are dropped


class PtyPair:
    """`baud`: if set, bytes written are released at the pace of a UART at that rate
    (10 bits per byte, 8N1), which a pty alone does not reproduce."""

    def __init__(self, baud: int | None = None) -> None:
        self.baud = baud
        self._wire_free_at = 0.0  # when the emulated wire has sent what was queued
        self._timers: set[asyncio.TimerHandle] = set()
        self.master, self._slave = os.openpty()
        # Raw before anyone opens it: no echo, no CR/LF mangling, no line buffering.
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        # We keep our slave fd open, so the master never sees EIO when the driver closes
        # and reopens the port (a real UART does not vanish when its reader goes away).
        self._pending = bytearray()
        self._writer_armed = False
        self.dropped = 0  # frames dropped because nobody read the line

    def write(self, data: bytes) -> None:
        """Queue `data` whole or drop it whole: a pty blocks when nobody reads its slave,
        and a frame cut in half would be line noise no real UART makes."""
        if self.baud is not None:
            loop = asyncio.get_running_loop()
            start = max(loop.time(), self._wire_free_at)
            self._wire_free_at = start + len(data) * 10 / self.baud
            handle = loop.call_at(self._wire_free_at, self._release, data)
            self._timers.add(handle)
            return
        self._queue(data)

    def _release(self, data: bytes) -> None:
        self._timers = {
            h
            for h in self._timers
            if not h.cancelled() and h.when() > asyncio.get_running_loop().time()
        }
        self._queue(data)

    def _queue(self, data: bytes) -> None:
        if len(self._pending) + len(data) > TX_BUFFER:
            self.dropped += 1
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                n = os.write(self.master, self._pending)
            except BlockingIOError:
                n = 0
            except OSError:
                self._pending.clear()  # closed under us: the line is gone
                break
            if n == 0:
                break
            del self._pending[:n]
        loop = asyncio.get_running_loop()
        if self._pending and not self._writer_armed:
            loop.add_writer(self.master, self._flush)
            self._writer_armed = True
        elif not self._pending and self._writer_armed:
            loop.remove_writer(self.master)
            self._writer_armed = False

    def read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return b""

    def close(self) -> None:
        for h in self._timers:
            h.cancel()
        self._timers.clear()
        if self._writer_armed:
            asyncio.get_running_loop().remove_writer(self.master)
            self._writer_armed = False
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):  # already closed
                os.close(fd)
