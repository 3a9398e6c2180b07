"""The Unix-datagram powerline (evse/slac/link_unix.py): each host with its own simulated
modem and socket in one directory; SLAC (ISO 15118-3) matches across it, the link goes
down when the peer's process goes, a dead peer's socket file is cleared, and foreign or
short datagrams are ignored."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from pathlib import Path

from evse.slac.events import LinkDown, LinkUp, Matched
from evse.slac.link_unix import UnixPowerlineLink, parse_interface
from evse.slac.runner import EvseSlac, EvSlac, wait_for_event

EVSE_MAC = bytes.fromhex("020000000a01")
EV_MAC = bytes.fromhex("020000000e01")
EVSE_MODEM = bytes.fromhex("00b0520a0001")
EV_MODEM = bytes.fromhex("00b0520e0001")
LIMIT_S = 30.0  # generous: only "it never happened" fails, timing is for bench/


def test_parse_interface() -> None:
    assert parse_interface("unix:/run/plc") == "/run/plc"
    assert parse_interface("eth1") is None


def test_iso15118_3_match_over_the_unix_powerline_and_link_down_when_the_ev_goes() -> None:
    async def scenario(d: Path) -> tuple[list[object], list[object], object]:
        evse = EvseSlac(UnixPowerlineLink(d, EVSE_MAC, EVSE_MODEM))
        ev = EvSlac(UnixPowerlineLink(d, EV_MAC, EV_MODEM, attenuation_db=30))
        async with asyncio.TaskGroup() as tg:
            evse_task = tg.create_task(evse.run())
            ev_task = tg.create_task(ev.run())
            evse.pilot_b_5_percent()
            ev.start()
            async with asyncio.timeout(LIMIT_S):
                got_evse = [await wait_for_event(evse.events, (Matched,)),
                            await wait_for_event(evse.events, (LinkUp,))]
                got_ev = [await wait_for_event(ev.events, (Matched,)),
                          await wait_for_event(ev.events, (LinkUp,))]
            assert sorted(os.listdir(d)) == ["00b0520a0001.plc", "00b0520e0001.plc"]
            while not ev_task.done():  # the car's process goes: no more beacons
                ev_task.cancel()  # again: 3.11's wait_for may swallow one cancellation
                await asyncio.wait({ev_task}, timeout=0.1)
            async with asyncio.timeout(LIMIT_S):
                down = await wait_for_event(evse.events, (LinkDown,))
            evse_task.cancel()
        return got_evse, got_ev, down

    with tempfile.TemporaryDirectory(prefix="plc-") as d:
        got_evse, got_ev, down = asyncio.run(scenario(Path(d)))
        assert os.listdir(d) == []  # each link removes its socket file on close
    assert isinstance(got_evse[0], Matched) and got_evse[0].peer_mac == EV_MAC
    assert isinstance(got_ev[0], Matched) and got_ev[0].peer_mac == EVSE_MAC
    assert got_ev[0].nmk == got_evse[0].nmk
    assert isinstance(got_evse[1], LinkUp) and isinstance(got_ev[1], LinkUp)
    assert isinstance(down, LinkDown)


def test_a_dead_peers_socket_is_cleared_and_junk_is_ignored() -> None:
    async def scenario(d: Path) -> tuple[list[str], int]:
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stale.bind(str(d / "00b0520e0009.plc"))
        stale.close()  # the file stays, nobody listens: a killed process
        got: list[bytes] = []
        link = UnixPowerlineLink(d, EVSE_MAC, EVSE_MODEM)
        link.open(got.append)
        try:
            sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            for junk in (b"", b"PLC1", b"XXXX" + bytes(60), b"PLC1" + EVSE_MODEM + bytes(50)):
                sender.sendto(junk, str(d / "00b0520a0001.plc"))
            sender.close()
            link.broadcast(b"\x00" * 60)  # finds the stale file and removes it
            await asyncio.sleep(0.2)
            return sorted(os.listdir(d)), len(got) + len(link._segment.peers)
        finally:
            link.close()

    with tempfile.TemporaryDirectory(prefix="plc-") as d:
        names, heard = asyncio.run(scenario(Path(d)))
    assert names == ["00b0520a0001.plc"]
    assert heard == 0  # nothing reached the host, no peer learnt from junk or our own MAC
