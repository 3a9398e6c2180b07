"""Atomic persistence of the accepted DER directives and of the DER alarm history
(hal/alarm_history.py): write a temp file, fsync it, rename it over the old one, fsync
the folder. A kill -9 at any moment leaves either the old file or the new one, never a
torn one."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import cbor2

log = logging.getLogger(__name__)

_FORMAT = 1


def save_directives(path: Path, directives: list[dict[str, Any]]) -> None:
    _write_atomic(path, cbor2.dumps({"format": _FORMAT, "directives": directives}))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def load_directives(path: Path) -> list[dict[str, Any]]:
    """The saved set, or [] when there is none. A damaged file is logged and kept aside
    (renamed *.bad) rather than silently dropped, so an operator can look at it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        obj = cbor2.loads(raw)
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise ValueError("unexpected layout")
        directives = obj["directives"]
        if not isinstance(directives, list) or not all(isinstance(d, dict) for d in directives):
            raise ValueError("directives is not a list of maps")
    except (cbor2.CBORDecodeError, ValueError, KeyError) as exc:
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        log.error("directives file %s unreadable (%s); moved to %s", path, exc, bad)
        return []
    return directives


def save_alarm_history(path: Path, boot: int, events: list[dict[str, Any]]) -> None:
    _write_atomic(path, cbor2.dumps({"format": _FORMAT, "boot": boot, "events": events}))


def load_alarm_history(path: Path) -> tuple[int, list[dict[str, Any]]]:
    """(boot counter, events) saved last; (0, []) when there is none. A damaged file is
    kept aside (*.bad) like the directives file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return 0, []
    try:
        obj = cbor2.loads(raw)
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            raise ValueError("unexpected layout")
        boot, events = obj["boot"], obj["events"]
        if not isinstance(boot, int) or isinstance(boot, bool) or boot < 0:
            raise ValueError("boot is not a counter")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise ValueError("events is not a list of maps")
    except (cbor2.CBORDecodeError, ValueError, KeyError) as exc:
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        log.error("alarm history %s unreadable (%s); moved to %s", path, exc, bad)
        return 0, []
    return boot, events
