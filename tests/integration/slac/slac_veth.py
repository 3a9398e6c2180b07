"""A powerline over veth (evse.sim.netns): namespaces for the EVSE host, the EV host and
the simulated modems, created per test and removed when the test ends.

    [ns evse] e0 <-veth-> e1 [ns plc: plc_sim, one modem per side] v1 <-veth-> v0 [ns ev]
    [ns evse] s0 <---------------------- veth ------------------------> c0 [ns ev]
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from evse.sim.netns import StationNet, station_netns, why_not_available

WAIT_S = 60.0  # generous: a limit says "it never happened", not "it was slow"


@dataclass
class Plc:
    net: StationNet
    evse_ns: str
    ev_ns: str
    evse_if: str  # SLAC: toward the EVSE host's simulated modem
    ev_if: str
    secc_if: str  # IPv6 link-local between the hosts (SDP, V2GTP)
    car_if: str
    lines: dict[int, queue.Queue[str]] = field(default_factory=dict)

    def start(self, ns: str, *argv: str, stdin: bool = False) -> subprocess.Popen[str]:
        side = self.net.evse if ns == self.evse_ns else self.net.ev
        proc: subprocess.Popen[str] = self.net.start(
            side, *argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/tmp",
        )
        # One reader thread per process: lines queue up; nothing reads a pipe twice.
        lines: queue.Queue[str] = queue.Queue()
        self.lines[proc.pid] = lines
        threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
        return proc

    def evse_cli(self, *args: str, ns: str | None = None, stdin: bool = False
                 ) -> subprocess.Popen[str]:
        return self.start(ns or self.evse_ns, sys.executable, "-m", "evse.cli", "slac", *args,
                          stdin=stdin)


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
    reason = why_not_available()
    if reason:
        pytest.skip(reason)
    with station_netns() as net:
        assert net.evse.netns and net.ev.netns and net.evse.slac_if and net.ev.slac_if
        yield Plc(net, net.evse.netns, net.ev.netns, net.evse.slac_if, net.ev.slac_if,
                  net.evse.ip_if, net.ev.ip_if)
