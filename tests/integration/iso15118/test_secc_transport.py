"""The SECC over a veth pair (ISO 15118-20 over TCP and TLS 1.3): SDP, a scripted car in
its own network namespace, one session per EVSE, bad input ends only that connection."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from secc_net import WAIT_S, Pki, VethPair, can_make_netns, make_pki, veth_pair

from evse.iso15118.d20.types import (
    Action,
    SeccConfig,
    SeccLimits,
    SessionEnded,
    StartAuthorization,
    StationView,
)
from evse.iso15118.secc import TLS_SUITES_20, Secc, SeccTransportConfig

pytestmark = pytest.mark.skipif(can_make_netns() is not None, reason=str(can_make_netns()))

CLIENT = Path(__file__).with_name("secc_client.py")
CONFIG = SeccConfig(
    evse_id=1,
    evseid="DE*ABC*E1",
    services=("AC", "AC_BPT"),
    control_modes=("Scheduled", "Dynamic"),
    limits=SeccLimits(11000, 11000, 16, 16),
)


@dataclass
class Station:
    """The station side as the SECC sees it: authorizes a moment after being asked."""

    actions: list[Action] = field(default_factory=list)
    authorization: str = "none"

    def view(self) -> StationView:
        return StationView(epoch_s=1_800_000_000, authorization=self.authorization)  # type: ignore[arg-type]

    def act(self, actions: tuple[Action, ...]) -> None:
        self.actions += actions
        if any(isinstance(a, StartAuthorization) for a in actions):
            self.authorization = "pending"
            asyncio.get_running_loop().call_later(0.2, self._accept)

    def _accept(self) -> None:
        self.authorization = "accepted"

    def ended(self) -> list[SessionEnded]:
        return [a for a in self.actions if isinstance(a, SessionEnded)]


@pytest.fixture(scope="module")
def net() -> Iterator[VethPair]:
    with veth_pair("a") as pair:
        yield pair


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def car(net: VethPair, mode: str, *args: str) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        net.netns,
        sys.executable,
        str(CLIENT),
        net.ev_if,
        mode,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=WAIT_S * 3)
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


def codes(lines: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(x["response"], x["code"]) for x in lines if "response" in x]


FULL = [
    ("supportedAppProtocolRes", "OK_SuccessfulNegotiation"),
    ("SessionSetupRes", "OK_NewSessionEstablished"),
    ("AuthorizationSetupRes", "OK"),
]
TAIL = [
    ("ServiceDiscoveryRes", "OK"),
    ("ServiceDetailRes", "OK"),
    ("ServiceSelectionRes", "OK"),
    ("SessionStopRes", "OK"),
]


def assert_full_session(lines: list[dict[str, Any]]) -> None:
    got = codes(lines)
    assert got[:3] == FULL
    auth = [c for c in got if c[0] == "AuthorizationRes"]
    assert auth and all(c[1] == "OK" for c in auth)
    assert [x["processing"] for x in lines if x.get("response") == "AuthorizationRes"][-1] == (
        "Finished"
    )
    assert got[3 + len(auth) :] == TAIL


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=WAIT_S * 6))


def test_secc_tcp_sdp_offers_no_tls_and_a_full_common_session(net: VethPair) -> None:
    async def scenario() -> None:
        station = Station()
        answered: list[str] = []
        secc = Secc(
            CONFIG,
            SeccTransportConfig(net.secc_if, tls="none"),
            station,
            on_response=lambda name, _s: answered.append(name),
        )
        offer = await secc.start()
        try:
            lines = await car(net, "tcp")
            sdp = lines[0]
            assert (sdp["security"], sdp["transport"]) == (0x10, 0x00)  # no TLS, TCP
            assert (sdp["address"], sdp["port"]) == (offer.address, offer.tcp_port)
            assert_full_session(lines)
            assert StartAuthorization("EIM") in station.actions
            assert station.ended() == [SessionEnded("terminate")]
            assert len(answered) == len(codes(lines)) and answered[0] == "supportedAppProtocolReq"
        finally:
            await secc.stop()

    run(scenario())


def test_secc_tls13_mutual_auth_with_a_20_suite_and_key_log(
    net: VethPair, pki: Pki, tmp_path: Path
) -> None:
    keylog = tmp_path / "keys.log"

    async def scenario() -> None:
        station = Station()
        transport = SeccTransportConfig(
            net.secc_if,
            tls="required",
            cert_file=pki.secc_chain,
            key_file=pki.secc_key,
            oem_roots=pki.oem_root,
            key_log=keylog,
        )
        secc = Secc(CONFIG, transport, station)
        offer = await secc.start()
        try:
            ev = ["--ca", str(pki.secc_root), "--cert", str(pki.ev_chain), "--key", str(pki.ev_key)]
            # the car asks for no TLS; "required" answers TLS anyway
            lines = await car(net, "tls", *ev)
            assert lines[0]["security"] == 0x00 and lines[0]["port"] == offer.tls_port
            tls = lines[1]
            assert tls["version"] == "TLSv1.3" and tls["cipher"] in TLS_SUITES_20
            assert_full_session(lines)
            assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keylog.read_text()
            # a car whose chain is not from a configured OEM root gets nothing ...
            bad = ["--ca", str(pki.secc_root), "--cert", str(pki.stranger_chain)]
            lines = await car(net, "tls", *bad, "--key", str(pki.stranger_key))
            assert codes(lines) == [] and any(x.get("closed") for x in lines)
            # ... and the next good car is served
            assert_full_session(await car(net, "tls", *ev))
        finally:
            await secc.stop()

    run(scenario())


def test_secc_optional_tls_follows_what_the_car_asks(net: VethPair, pki: Pki) -> None:
    async def scenario() -> None:
        transport = SeccTransportConfig(
            net.secc_if, tls="optional", cert_file=pki.secc_chain, key_file=pki.secc_key
        )
        secc = Secc(CONFIG, transport, Station())
        offer = await secc.start()
        try:
            plain = await car(net, "tcp")
            assert (plain[0]["security"], plain[0]["port"]) == (0x10, offer.tcp_port)
            assert_full_session(plain)
            tls = await car(net, "tls", "--ca", str(pki.secc_root))
            assert (tls[0]["security"], tls[0]["port"]) == (0x00, offer.tls_port)
            assert_full_session(tls)
        finally:
            await secc.stop()

    run(scenario())


def test_secc_one_session_per_evse_second_connection_refused(net: VethPair) -> None:
    async def scenario() -> None:
        secc = Secc(CONFIG, SeccTransportConfig(net.secc_if, tls="none"), Station())
        await secc.start()
        try:
            first = asyncio.ensure_future(car(net, "tcp", "--hold", "4"))
            for _ in range(int(WAIT_S * 20)):
                if secc.active:
                    break
                await asyncio.sleep(0.05)
            assert secc.active
            second = await car(net, "tcp")
            assert codes(second) == [] and second[-1].get("closed")
            assert secc.refused == 1
            assert_full_session(await first)
        finally:
            await secc.stop()

    run(scenario())


def test_secc_bad_input_ends_that_connection_and_the_next_is_served(net: VethPair) -> None:
    async def scenario() -> None:
        station = Station()
        secc = Secc(CONFIG, SeccTransportConfig(net.secc_if, tls="none"), station)
        await secc.start()
        try:
            lines = await car(net, "tcp", "--steps", "garbage")
            assert codes(lines) == [] and lines[-1].get("closed")
            assert len(station.ended()) == 1
            assert_full_session(await car(net, "tcp"))
        finally:
            await secc.stop()

    run(scenario())


def test_secc_spoiled_sessions_over_tcp_each_end_and_the_secc_keeps_serving(
    net: VethPair,
) -> None:
    async def scenario() -> None:
        station = Station()
        secc = Secc(CONFIG, SeccTransportConfig(net.secc_if, tls="none"), station)
        await secc.start()
        try:
            # 24 connections, each with one message bit-flipped, cut or repeated; then a
            # clean session on the same SECC
            lines = await car(net, "tcp", "--fuzz", "24")
            assert len([x for x in lines if x["step"] == "fuzz" and "op" in x]) == 24
            assert secc.sessions == 25
            assert len(station.ended()) == 25  # every session ended, each once
            clean = next(i for i, x in enumerate(lines) if x["step"] == "clean")
            assert_full_session(lines[clean + 1 :])
            assert not secc.active
        finally:
            await secc.stop()

    run(scenario())


def test_secc_pause_then_resume_on_a_new_connection(net: VethPair) -> None:
    async def scenario() -> None:
        station = Station()
        secc = Secc(CONFIG, SeccTransportConfig(net.secc_if, tls="none"), station)
        await secc.start()
        try:
            lines = await car(net, "tcp", "--steps", "pause")
            sid = next(x["session_id"] for x in lines if x.get("response") == "SessionSetupRes")
            assert SessionEnded("pause", paused=True) in station.ended()
            again = await car(net, "tcp", "--steps", f"resume:{sid}")
            assert codes(again)[1] == ("SessionSetupRes", "OK_OldSessionJoined")
            assert next(x["session_id"] for x in again if "session_id" in x) == sid
        finally:
            await secc.stop()

    run(scenario())


def test_secc_pause_and_resume_over_tls_by_the_same_car(net: VethPair, pki: Pki) -> None:
    async def scenario() -> None:
        station = Station()
        transport = SeccTransportConfig(
            net.secc_if,
            tls="required",
            cert_file=pki.secc_chain,
            key_file=pki.secc_key,
            oem_roots=pki.oem_root,
        )
        secc = Secc(CONFIG, transport, station)
        await secc.start()
        try:
            ev = ["--ca", str(pki.secc_root), "--cert", str(pki.ev_chain), "--key", str(pki.ev_key)]
            lines = await car(net, "tls", *ev, "--steps", "pause")
            sid = next(x["session_id"] for x in lines if x.get("response") == "SessionSetupRes")
            again = await car(net, "tls", *ev, "--steps", f"resume:{sid}")
            assert codes(again)[1] == ("SessionSetupRes", "OK_OldSessionJoined")
        finally:
            await secc.stop()

    run(scenario())


def test_secc_refuses_to_start_without_a_link_local_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import evse.iso15118.secc as secc_module
    from evse.iso15118.secc import SeccError

    # "lo" is the loopback mode now ([::1], simulation): any other interface without a
    # usable link-local address is refused.
    monkeypatch.setattr(secc_module, "link_local_address", lambda iface: None)
    iface = next(name for _, name in socket.if_nameindex() if name != "lo")

    async def scenario() -> None:
        secc = Secc(CONFIG, SeccTransportConfig(iface, tls="none"), Station())
        with pytest.raises(SeccError):
            await secc.start()

    run(scenario())
