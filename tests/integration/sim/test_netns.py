"""evse.sim.netns: a station and a car in network namespaces, the simulated modems between
them (ISO 15118-3 SLAC on raw sockets) and an IPv6 link-local path (ISO 15118-20 SDP);
everything it made is gone on every way out."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest

from evse.sim import netns
from evse.sim.netns import NetnsError, StationNet, station_netns, why_not_available

pytestmark = pytest.mark.skipif(why_not_available() is not None,
                                reason=str(why_not_available()))

WAIT_S = 60.0

# ISO 15118-20 SDP travels as UDP to [ff02::1]:15118 on the EV's link: one datagram each way.
SDP_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 15118))
print("listening", flush=True)
data, addr = s.recvfrom(64)
s.sendto(b"res:" + data, addr)
"""
SDP_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(5)
for _ in range(20):
    s.sendto(b"\\x01\\xfe\\x90\\x00", ("ff02::1", 15118, 0, socket.if_nametoindex(sys.argv[1])))
    try:
        print(s.recvfrom(64)[0].hex())
        break
    except TimeoutError:
        continue
"""


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def _links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def _gone(net: StationNet) -> bool:
    names = [n for n in (net.evse.netns, net.ev.netns, net.modems_netns) if n]
    ifaces = [net.evse.ip_if, net.ev.ip_if]
    return (not any(n in _namespaces() for n in names)
            and not any(f" {i}@" in _links() or f" {i}:" in _links() for i in ifaces))


def test_iso15118_3_slac_matches_over_the_sim_modems_and_sdp_reaches_the_evse() -> None:
    with station_netns() as net:
        assert net.evse.netns and net.ev.netns and net.evse.slac_if and net.ev.slac_if
        assert not _gone(net)
        # SLAC (ISO 15118-3) over raw sockets through each side's own simulated modem.
        evse = net.start(net.evse, sys.executable, "-m", "evse.cli", "slac", "match",
                         net.evse.slac_if, "--timeout", str(WAIT_S),
                         stdout=subprocess.PIPE, text=True)
        ev = subprocess.run(net.ev.argv(sys.executable, "-m", "evse.cli", "slac", "match",
                                        net.ev.slac_if, "--ev", "--timeout", str(WAIT_S)),
                            capture_output=True, text=True, timeout=WAIT_S * 2)
        events = [json.loads(line)["event"] for line in ev.stdout.splitlines()]
        assert events == ["Matched", "LinkUp"], ev.stderr
        assert evse.wait(timeout=WAIT_S) == 0
        # SDP (ISO 15118-20 / -2 clause 7.10): link-local multicast from the car's side.
        server = net.start(net.evse, sys.executable, "-c", SDP_SERVER,
                           stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline() == "listening\n"
        client = subprocess.run(net.ev.argv(sys.executable, "-c", SDP_CLIENT, net.ev.ip_if),
                                capture_output=True, text=True, timeout=WAIT_S * 2)
        assert client.stdout.strip() == (b"res:" + b"\x01\xfe\x90\x00").hex(), client.stderr
    assert _gone(net)
    assert all(p.poll() is not None for p in net.procs)  # children ended with the context


def test_an_exception_inside_removes_namespaces_links_and_children() -> None:
    seen: list[StationNet] = []
    with pytest.raises(KeyError), station_netns() as net:
        seen.append(net)
        net.start(net.ev, "sleep", "600")
        assert net.modems_netns is not None and net.modems_netns in _namespaces()
        raise KeyError("boom")
    assert _gone(seen[0])
    assert all(p.poll() is not None for p in seen[0].procs)


def test_a_failed_setup_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other test runs make namespaces at the same time: look only for the names made here.
    tag = secrets.token_hex(3)
    monkeypatch.setattr(netns.secrets, "token_hex", lambda _n: tag)
    with pytest.raises(NetnsError, match="plc_sim did not start"), station_netns(
            python="/bin/false"):
        pass
    assert f"n{tag}" not in _namespaces() and f"n{tag}" not in _links()


def test_the_evse_side_in_our_own_namespace_without_modems() -> None:
    with station_netns(modems=False, evse_netns=False) as net:
        assert net.evse.netns is None and net.modems_netns is None
        assert net.evse.slac_if is None and net.ev.slac_if is None
        assert f" {net.evse.ip_if}@" in _links()  # the SECC's end is ours
        assert net.evse.argv("true") == ["true"]
    assert _gone(net)


def test_names_are_unique_per_call() -> None:
    with station_netns(modems=False) as a, station_netns(modems=False) as b:
        assert {a.evse.netns, a.ev.netns}.isdisjoint({b.evse.netns, b.ev.netns})
        assert a.evse.ip_if != b.evse.ip_if
    assert _gone(a) and _gone(b)
