"""A powerline over veth: namespaces for the EVSE host, the EV host and the simulated
modems, created per test and removed in the finalizer.

    [ns evse] e0 <-veth-> e1 [ns plc: plc_sim, one modem per side] v1 <-veth-> v0 [ns ev]
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

WAIT_S = 60.0  # generous: a limit says "it never happened", not "it was slow"


@dataclass
class Plc:
    prefix: str
    evse_ns: str
    ev_ns: str
    plc_ns: str
    evse_if: str
    ev_if: str
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    lines: dict[int, queue.Queue[str]] = field(default_factory=dict)

    def start(self, ns: str, *argv: str, stdin: bool = False) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/tmp",
        )
        self.procs.append(proc)
        # One reader thread per process: lines queue up; nothing reads a pipe twice.
        lines: queue.Queue[str] = queue.Queue()
        self.lines[proc.pid] = lines
        threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
        return proc

    def evse_cli(self, *args: str, ns: str | None = None, stdin: bool = False
                 ) -> subprocess.Popen[str]:
        return self.start(ns or self.evse_ns, sys.executable, "-m", "evse.cli", "slac", *args,
                          stdin=stdin)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _can_make_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces and AF_PACKET sockets need root (CAP_SYS_ADMIN, CAP_NET_RAW)"
    if shutil.which("ip") is None:
        return "iproute2 `ip` is not installed"
    return None


EOF_LINE = ""


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)
    lines.put(EOF_LINE)


def read_line(plc: Plc, proc: subprocess.Popen[str], limit_s: float = WAIT_S) -> str:
    try:
        return plc.lines[proc.pid].get(timeout=limit_s)
    except queue.Empty:
        return EOF_LINE


def read_events(plc: Plc, proc: subprocess.Popen[str], until: set[str], limit_s: float = WAIT_S
                ) -> list[dict[str, object]]:
    """JSON event lines from an `evse slac` process until one named in `until` (or EOF)."""
    events: list[dict[str, object]] = []
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        line = read_line(plc, proc, max(0.0, end - time.monotonic()))
        if not line:
            break
        event = json.loads(line)
        events.append(event)
        if event.get("event") in until:
            break
    return events


@pytest.fixture
def plc() -> Iterator[Plc]:
    reason = _can_make_namespaces()
    if reason:
        pytest.skip(reason)
    prefix = f"sl{os.getpid() % 100000}"
    p = Plc(prefix, f"{prefix}_evse", f"{prefix}_ev", f"{prefix}_plc", f"{prefix}e0", f"{prefix}v0")
    made: list[str] = []
    try:
        for ns in (p.evse_ns, p.ev_ns, p.plc_ns):
            _ip("netns", "add", ns)
            made.append(ns)
        for host_ns, end in ((p.evse_ns, "e"), (p.ev_ns, "v")):
            near, far = f"{prefix}{end}0", f"{prefix}{end}1"
            _ip("link", "add", near, "type", "veth", "peer", "name", far)
            _ip("link", "set", near, "netns", host_ns)
            _ip("link", "set", far, "netns", p.plc_ns)
            _ip("-n", host_ns, "link", "set", near, "up")
            _ip("-n", p.plc_ns, "link", "set", far, "up")
        modems = p.start(p.plc_ns, sys.executable, "-m", "evse.slac.plc_sim",
                         f"{prefix}e1", f"{prefix}v1")
        line = read_line(p, modems)
        assert "ready" in line, modems.stderr.read() if modems.stderr else line
        yield p
    finally:
        for proc in p.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
