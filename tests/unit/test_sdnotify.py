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
