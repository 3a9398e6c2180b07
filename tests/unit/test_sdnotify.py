"""sd_notify datagrams reach a socket bound where $NOTIFY_SOCKET points."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from hal.sdnotify import Notifier


def test_path_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(str(path))
        n = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"})
        assert n.watchdog_interval_s == 2.0
        n.ready("up")
        n.watchdog()
        n.stopping()
        got = [srv.recv(1024).decode() for _ in range(3)]
        n.close()
    assert got == ["READY=1\nSTATUS=up", "WATCHDOG=1", "STOPPING=1"]


def test_abstract_socket() -> None:
    name = f"evse-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind("\0" + name)
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        n.ready()
        assert srv.recv(1024) == b"READY=1"
        n.close()


def test_no_socket_is_silent_and_watchdog_for_other_pid_is_off() -> None:
    n = Notifier({})
    assert not n.enabled
    n.ready()  # nothing to send to, nothing raised
    other = Notifier(
        {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}
    )
    assert other.watchdog_interval_s is None
    other.ready()  # socket missing: ignored


def test_a_full_notify_socket_never_blocks_the_sender(tmp_path: Path) -> None:
    """Nobody reads the socket (systemd busy): the datagrams that do not fit are dropped
    and counted instead of stalling the caller's event loop (and hal's sample loop)."""
    import threading

    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(str(path))
        n = Notifier({"NOTIFY_SOCKET": str(path)})
        done = threading.Event()

        def flood() -> None:
            for _ in range(5000):  # far beyond a datagram socket's queue (~max_dgram_qlen)
                n.watchdog()
            done.set()

        t = threading.Thread(target=flood, daemon=True)
        t.start()
        assert done.wait(30.0), "sd_notify blocked on a full socket"
        n.close()
    assert n.dropped > 0
