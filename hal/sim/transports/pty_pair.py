"""A pty pair as a serial line: the simulated device owns the master fd, the driver opens
the slave by its path exactly as it would open /dev/ttyUSB0 on a board."""

from __future__ import annotations

import contextlib
import os
import tty


class PtyPair:
    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        # Raw before anyone opens it: no echo, no CR/LF mangling, no line buffering.
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        # We keep our slave fd open, so the master never sees EIO when the driver closes
        # and reopens the port (a real UART does not vanish when its reader goes away).

    def write(self, data: bytes) -> int:
        """Non-blocking write; bytes nobody reads are dropped, like on a real wire."""
        try:
            return os.write(self.master, data)
        except BlockingIOError:
            return 0

    def read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return b""

    def close(self) -> None:
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):  # already closed
                os.close(fd)
