"""Josev's EVCC (the `iso15118` package, an independent EV) against OUR SECC over veth.

Josev's EVCC offers one -20 namespace and one energy service from its JSON config and
takes the first matching parameter set unless told otherwise (josev_evcc_runner.py picks
the control mode): AC, AC_BPT, DC, DC_BPT x Scheduled, Dynamic, TLS off. A run is clean
when Josev's log ends with SessionStop and has no traceback (issue 12, Interop).

Scheduled: Josev's EVCC requires a price schedule in each ChargingSchedule (iso15118
0.31.2, shared/messages/iso15118_20/common_messages.py, root validator
either_price_levels_or_absolute_prices) although ISO 15118-20 8.3.5.3.40 (XSD
ChargingScheduleType, the choice minOccurs="0") makes it optional; our SECC offers one
when configured (`[[iso15118]] price_schedule`): absolute prices for AC / DC, price
levels for the BPT services, so both kinds meet an independent decoder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from josev_harness import Link, Peer, assert_clean, evcc_config, messages, start_evcc

HERE = Path(__file__).resolve().parent


def start_our_secc(link: Link, cwd: Path, tcp_port: int = 0,
                   tls: tuple[Path, Path, Path] | None = None, prices: str | None = None) -> Peer:
    cwd.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(HERE / "our_secc_runner.py"),
            *(["--prices", prices] if prices else []), link.secc_if, str(tcp_port)]
    secc = Peer(link.secc_ns, [*argv, *map(str, tls or ())], cwd, "our-secc")
    secc.wait_log(r"ready tcp_port=")
    return secc


MODES = [pytest.param(1, id="Scheduled"), pytest.param(2, id="Dynamic")]


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("service", ["AC", "AC_BPT", "DC", "DC_BPT"])
def test_josev_evcc_charges_through_our_secc(link: Link, tmp_path: Path, service: str,
                                             mode: int) -> None:
    # A port in the dynamic range, which Josev's EVCC insists on (see the test below).
    prices = None if mode == 2 else "price_levels" if service.endswith("_BPT") else "absolute"
    secc = start_our_secc(link, tmp_path / "secc", tcp_port=50000 + mode * 10 + len(service),
                          prices=prices)
    evcc = start_evcc(link, tmp_path / "evcc", evcc_config(service, loop_cycles=5),
                      runner=str(HERE / "josev_evcc_runner.py"), runner_args=[str(mode)])
    try:
        evcc.wait_log(r"SessionStopRes received")
        evcc.wait_exit()
    finally:
        evcc.stop()
        secc.stop()
    assert_clean(evcc.log(), "josev EVCC")
    sent = messages(evcc.log())
    loop = "DC_ChargeLoopReq" if service.startswith("DC") else "AC_ChargeLoopReq"
    assert loop in sent
    assert "Traceback" not in secc.log()


def test_our_secc_offers_a_tcp_port_in_the_dynamic_range(link: Link, tmp_path: Path) -> None:
    """SDP must name a TCP port in 49152..65535 (IANA dynamic ports, as -2 [V2G2-...]
    and open implementations require); Josev's EVCC drops any other answer. Linux hands
    out ephemeral ports from 32768, so "any free port" is not enough. Three starts make a
    chance pass unlikely."""
    for i in range(3):
        secc = start_our_secc(link, tmp_path / f"secc{i}")
        secc.stop()
        port = int(secc.log().split("ready tcp_port=")[1].split()[0])
        assert 49152 <= port <= 65535, f"SDP offers TCP port {port}"


def secc_tls_files(pki: Path, where: Path) -> tuple[Path, Path, Path]:
    """Our SECC's side of Josev's PKI: the CPO chain, the SECC leaf key (decrypted: Josev
    keeps it under a password), and the OEM root to check the car's chain against."""
    base = pki / "iso15118_2"
    key = where / "seccLeaf.plain.key"
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "pkey", "-in", str(base / "private_keys" / "seccLeaf.key"),
                    "-passin", f"file:{base / 'private_keys' / 'seccLeafPassword.txt'}",
                    "-out", str(key)], check=True, capture_output=True, timeout=60)
    return (base / "certs" / "cpoCertChain.pem", key, base / "certs" / "oemRootCACert.pem")


@pytest.mark.slow
@pytest.mark.parametrize("service", ["AC_BPT", "DC_BPT"])
def test_josev_evcc_through_our_secc_over_tls13(link: Link, tmp_path: Path, josev_pki: Path,
                                               service: str) -> None:
    """TLS 1.3 with mutual authentication: Josev's EV checks our chain against its V2G
    root and presents its OEM chain, which our SECC checks against the OEM root."""
    secc = start_our_secc(link, tmp_path / "secc", tcp_port=50100 + len(service),
                          tls=secc_tls_files(josev_pki, tmp_path / "keys"))
    config = {**evcc_config(service, tls=True, loop_cycles=3)}
    evcc = start_evcc(link, tmp_path / "evcc", config, tls=True, pki=josev_pki,
                      runner=str(HERE / "josev_evcc_runner.py"), runner_args=["2"])
    try:
        evcc.wait_log(r"SessionStopRes received")
        evcc.wait_exit()
    finally:
        evcc.stop()
        secc.stop()
    assert_clean(evcc.log(), "josev EVCC")
    assert "Starting TLS client" in evcc.log()
    assert "Security: TLS" in evcc.log().split("SDPResponse received", 1)[1].split("\n", 1)[0]
    assert "Traceback" not in secc.log()
