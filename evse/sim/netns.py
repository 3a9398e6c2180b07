"""A station and a car in network namespaces, with simulated PLC modems between them.

    with station_netns() as net:          # root only (namespaces, veth, raw sockets)
        net.start(net.evse, "evse", "run", "--config", cfg)
        net.start(net.ev, sys.executable, "-m", "evse.sim.ev", ...)

Layout (names are unique per call; everything is removed on every way out):

    [ns evse] slac_if <-veth-> [ns modems: plc_sim, one modem per side] <-veth-> slac_if [ns ev]
    [ns evse] ip_if <------------------------- veth ---------------------------> ip_if [ns ev]

`slac_if` reaches the side's own simulated modem (evse/slac/plc_sim.py): SLAC over a raw
socket exactly as over a real Green PHY modem. `ip_if` carries IPv6 link-local traffic (SDP,
V2GTP): both ends have a usable link-local address (no duplicate address detection) before
the context is entered. The modems carry only SLAC (ethertype 0x88E1): forwarding IP
through a raw socket would need the veths' checksum offload switched off (ethtool).

`modems=False` leaves out the modem namespace and the SLAC veths; `evse_netns=False` keeps
the EVSE side in the caller's own namespace (a SECC the test runs in-process).
"""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READY_S = 20.0  # plc_sim ready / link-local addresses usable (a loaded machine is slow)


class NetnsError(RuntimeError):
    """The namespaces could not be set up (not root, no iproute2, a command failed)."""


def why_not_available() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces and raw sockets need root (CAP_SYS_ADMIN, CAP_NET_RAW)"
    if shutil.which("ip") is None:
        return "iproute2 `ip` is not installed"
    return None


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """`argv` to run inside `netns` (`ip netns exec`); None: this process's namespace."""
    return list(argv) if netns is None else ["ip", "netns", "exec", netns, *argv]


@dataclass(frozen=True)
class Side:
    name: str  # "evse" or "ev"
    netns: str | None  # None: the caller's own namespace
    ip_if: str  # IPv6 link-local toward the other side
    slac_if: str | None  # toward this side's simulated modem; None without modems

    def argv(self, *argv: str) -> list[str]:
        return in_netns(self.netns, argv)


@dataclass
class StationNet:
    evse: Side
    ev: Side
    modems_netns: str | None
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)

    def start(self, side: Side, *argv: str, **popen: Any) -> subprocess.Popen[Any]:
        """A child process inside `side`'s namespace; terminated when the context ends."""
        proc: subprocess.Popen[Any] = subprocess.Popen(side.argv(*argv), **popen)
        self.procs.append(proc)
        return proc


@contextmanager
def station_netns(
    *,
    modems: bool = True,
    evse_netns: bool = True,
    trace: Path | None = None,
    python: str = sys.executable,
) -> Iterator[StationNet]:
    """Namespaces, veths and (with `modems`) plc_sim; `trace`: plc_sim's --trace file."""
    reason = why_not_available()
    if reason:
        raise NetnsError(reason)
    p = "n" + secrets.token_hex(3)  # 7 characters: interface names stay under 15
    evse_ns = f"{p}_evse" if evse_netns else None
    net = StationNet(
        evse=Side("evse", evse_ns, f"{p}s0", f"{p}e0" if modems else None),
        ev=Side("ev", f"{p}_ev", f"{p}c0", f"{p}v0" if modems else None),
        modems_netns=f"{p}_plc" if modems else None,
    )
    made_ns: list[str] = []
    root_links: list[str] = []  # veths made in our namespace: deleted by hand
    try:
        for ns in (evse_ns, net.ev.netns, net.modems_netns):
            if ns is not None:
                _ip("netns", "add", ns)
                made_ns.append(ns)
        _veth(net.evse.ip_if, evse_ns, net.ev.ip_if, net.ev.netns, root_links, no_dad=True)
        for side in (net.evse, net.ev):
            if side.netns is not None:
                _ip("-n", side.netns, "link", "set", "lo", "up")
        if modems:
            _start_modems(net, root_links, trace, python)
        for side in (net.evse, net.ev):
            _wait_link_local(side.netns, side.ip_if)
        yield net
    finally:
        _stop(net.procs)
        for link in root_links:
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        for ns in made_ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _start_modems(net: StationNet, root_links: list[str], trace: Path | None,
                  python: str) -> None:
    plc = net.modems_netns
    far: list[str] = []
    for side in (net.evse, net.ev):
        assert side.slac_if is not None
        modem_end = side.slac_if[:-1] + "1"
        _veth(side.slac_if, side.netns, modem_end, plc, root_links)
        far.append(modem_end)
    argv = [python, "-m", "evse.slac.plc_sim", *far]
    if trace is not None:
        argv += ["--trace", str(trace)]
    # stderr to a file, not a pipe nobody reads (a pipe that fills would stop the modems).
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(in_netns(plc, argv), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err, text=True)
        net.procs.append(proc)
        line = _read_line(proc, READY_S)
        if "ready" not in line:
            proc.kill()
            proc.wait()
            err.seek(0)
            raise NetnsError(f"plc_sim did not start: {line!r} {err.read().strip()[-2000:]}")


def _veth(a: str, a_ns: str | None, b: str, b_ns: str | None, root_links: list[str],
          no_dad: bool = False) -> None:
    _ip("link", "add", a, "type", "veth", "peer", "name", b)
    # Made in our namespace: deleting an end still there deletes the pair (a no-op for
    # an end moved into a namespace, which takes its links with it).
    root_links += [a, b]
    for dev, ns in ((a, a_ns), (b, b_ns)):
        if ns is not None:
            _ip("link", "set", dev, "netns", ns)
        if no_dad:  # before the link is up: its link-local address is usable at once
            _run(in_netns(ns, ["sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0"]))
        _ip(*_in(ns), "link", "set", dev, "up")


def _wait_link_local(netns: str | None, iface: str) -> None:
    deadline = time.monotonic() + READY_S
    while True:
        out = subprocess.run(["ip", *_in(netns), "-6", "-o", "addr", "show", "dev", iface,
                              "scope", "link"], capture_output=True, text=True).stdout
        if "inet6" in out and "tentative" not in out:
            return
        if time.monotonic() > deadline:
            raise NetnsError(f"{iface} got no usable IPv6 link-local address")
        time.sleep(0.05)


def _read_line(proc: subprocess.Popen[str], limit_s: float) -> str:
    """The first line of `proc`'s stdout, or "" when none comes within `limit_s` (only for a
    first line: select() does not see what an earlier readline() buffered)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(limit_s):
            return ""
    return proc.stdout.readline()


def _stop(procs: list[subprocess.Popen[Any]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _in(netns: str | None) -> list[str]:
    return [] if netns is None else ["-n", netns]


def _ip(*args: str) -> None:
    _run(["ip", *args])


def _run(argv: list[str]) -> None:
    res = subprocess.run(argv, capture_output=True, text=True)
    if res.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {res.stderr.strip()}")
