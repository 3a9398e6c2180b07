"""SDP and the SECC on loopback (`[[iso15118]] interface = "lo"`, unprivileged
simulation): the SDP server listens on [::1]:sdp_port and answers with ::1 (ISO 15118-2
SDP, used by -20); the SECC listens on ::1; our EV asks [::1]:port by unicast. Two
stations on one host differ by their SDP port. `sdp_port` other than 15118 is refused on
a real interface (cars ask 15118)."""

from __future__ import annotations

import asyncio
import socket
import tomllib
from typing import Any

import pytest

from evse.config import parse_station
from evse.iso15118.d20.types import Action, StationView
from evse.iso15118.sdp import segment_sdp_port
from evse.iso15118.secc import Secc
from evse.sim.ev import sdp_client
from hal.config_reader import ConfigError
from tests.conftest import ROOT

SIM = ROOT / "config" / "sim.toml"


class _Station:
    def view(self) -> StationView:
        return StationView()

    def act(self, actions: tuple[Action, ...]) -> None:
        return None


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        port: int = s.getsockname()[1]
        return port


def _station(**iso: Any) -> Any:
    data = tomllib.loads(SIM.read_text())
    data["iso15118"] = [{"evse": 1, "interface": "lo", "evseid": "DE*ABC*E1", **iso}]
    return parse_station(data, SIM)


def test_sdp_on_lo_answers_with_loopback_and_the_secc_serves_there() -> None:
    ports = [_free_udp_port(), _free_udp_port()]
    while ports[1] == ports[0]:
        ports[1] = _free_udp_port()

    async def scenario() -> list[tuple[sdp_client.SdpAnswer, int]]:
        seccs = []
        for port in ports:
            (iso,) = _station(sdp_port=port).iso15118
            seccs.append(Secc(iso.secc, iso.transport, _Station()))
        out = []
        try:
            for secc in seccs:
                await secc.start()
            for secc, port in zip(seccs, ports, strict=True):
                answer = await sdp_client.discover("lo", False, tries=40, port=port)
                host = sdp_client.connect_host(answer, "lo")
                _reader, writer = await asyncio.open_connection(host, answer.port)
                for _ in range(100):  # the server takes the connection on its next turn
                    if secc.sessions:
                        break
                    await asyncio.sleep(0.01)
                out.append((answer, secc.sessions))
                writer.close()
                await writer.wait_closed()
        finally:
            for secc in seccs:
                await secc.stop()
        return out

    got = asyncio.run(scenario())
    for answer, sessions in got:
        assert answer.address == "::1" and not answer.tls
        assert 49152 <= answer.port <= 65535  # [V2G2-064] dynamic range, as on a real link
        assert sessions == 1
    assert got[0][0].port != got[1][0].port
    assert sdp_client.connect_host(got[0][0], "lo") == "::1"
    fe80 = sdp_client.SdpAnswer("fe80::1", 50000, False)
    assert sdp_client.connect_host(fe80, "veth0") == "fe80::1%veth0"  # link-local as before


def test_sdp_port_only_on_loopback_and_unique_per_station() -> None:
    assert _station().iso15118[0].transport.sdp_port == 15118
    data = tomllib.loads(SIM.read_text())
    data["iso15118"] = [{"evse": 1, "interface": "eth1", "evseid": "X", "sdp_port": 15200}]
    with pytest.raises(ConfigError, match="sdp_port"):
        parse_station(data, SIM)


def test_sdp_port_0_on_lo_follows_the_powerline_segment() -> None:
    data = tomllib.loads(SIM.read_text())  # sim.toml: sdp_port = 0, [slac] unix:DIR
    cfg = parse_station(data, SIM)
    assert cfg.slac is not None and cfg.slac.powerline is not None
    port = cfg.iso15118[0].transport.sdp_port
    assert port == segment_sdp_port(str(cfg.slac.powerline)) and 49152 <= port <= 65535
    assert segment_sdp_port("/a/plc-1") != segment_sdp_port("/b/plc-1")  # one per segment
    data.pop("slac")
    data["sim"].pop("car")
    with pytest.raises(ConfigError, match="sdp_port"):
        parse_station(data, SIM)
