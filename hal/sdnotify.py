"""systemd's notify protocol (sd_notify) without libsystemd: one datagram per state.

Used by both processes. Without $NOTIFY_SOCKET (run by hand, in tests) it does nothing.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        # '@' marks an address in the abstract namespace: a leading NUL byte on the wire.
        self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        wd_ok = usec.isdigit() and (not pid or pid == str(os.getpid()))
        # Ping at half the timeout, as sd_watchdog_enabled(3) advises.
        self.watchdog_interval_s: float | None = int(usec) / 2e6 if wd_ok else None
        self._sock: socket.socket | None = None
        self.dropped = 0  # datagrams the full socket queue refused

    @property
    def enabled(self) -> bool:
        return bool(self._addr)

    def notify(self, state: str) -> None:
        if not self._addr:
            return
        if self._sock is None:
            # Non-blocking: a notify socket whose queue is full (systemd busy) must not
            # stall the caller's event loop, and with it hal's sample loop.
            kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
            self._sock = socket.socket(socket.AF_UNIX, kind)
        try:
            self._sock.sendto(state.encode(), self._addr)
        except BlockingIOError:
            # Dropped: a lost WATCHDOG=1 is followed by the next one; systemd only acts
            # on silence longer than WatchdogSec.
            self.dropped += 1
        except OSError:
            # systemd gone (shutdown) or socket missing: nothing useful to do about it.
            return

    def ready(self, status: str = "") -> None:
        self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
