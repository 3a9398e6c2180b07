"""Our EV (evse/sim/ev) against Josev's SECC over veth: the independent check of our EV.

Josev's SECC offers AC and AC_BPT under the -20 AC namespace, DC and DC_BPT under DC, each
with Scheduled and Dynamic parameter sets: every combination is run. Its Java EXI codec
takes 100-400 ms a message here, so our EV's message timeouts are scaled for this peer
(the timing of our EV is not what these tests check). Josev's simulated DC stage reports
1 V whatever the EV asks in PreCharge (it does not model precharge), so our EV's precharge
tolerance is opened for it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from josev_harness import Link, Peer, start_secc

SERVICES = ("AC", "AC_BPT", "DC", "DC_BPT")
MODES = ("Scheduled", "Dynamic")


def run_our_ev(link: Link, cwd: Path, config: dict[str, Any]) -> dict[str, Any]:
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "ev.json").write_text(json.dumps(config))
    ev = Peer(link.ev_ns, [sys.executable, "-m", "evse.sim.ev", "--iface", link.ev_if,
                           "--config", str(cwd / "ev.json")], cwd, "our-ev")
    try:
        ev.wait_exit(limit_s=120)
    finally:
        ev.stop()
    lines = [line for line in ev.log().splitlines() if line.startswith("{")]
    assert lines, f"our EV printed no result:\n{ev.tail()}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def ev_config(service: str, mode: str, **extra: Any) -> dict[str, Any]:
    return {"service": service, "control_mode": mode, "timeout_scale": 10.0,
            "loop_interval_s": 0.1, "precharge_tolerance_v": 1000.0, **extra}


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("service", SERVICES)
def test_our_ev_charges_through_josev_secc(link: Link, tmp_path: Path, service: str,
                                           mode: str) -> None:
    secc = start_secc(link, tmp_path / "secc")
    try:
        result = run_our_ev(link, tmp_path / "ev", ev_config(service, mode, stop_at_s=None,
                                                                 departure_s=6))
    finally:
        secc.stop()
    print(json.dumps({k: v for k, v in result.items() if k != "loops"}))
    assert result["outcome"] == "terminated", result["reason"]
    assert result["reason"] == "departure time"
    assert result["evseid"] == "UK123E1234"  # Josev's simulated EVSE
    loop = "DC_ChargeLoopReq" if service.startswith("DC") else "AC_ChargeLoopReq"
    assert result["sent"].count(loop) >= 3
    assert result["sent"][-1] == "SessionStopReq"
    assert "SessionStopReq received" in secc.log()
    assert "Traceback" not in secc.log()


def ev_tls(pki: Path) -> dict[str, Any]:
    """Our EV's TLS 1.3 settings with Josev's PKI: check the SECC's chain against the V2G
    root; present the OEM chain (-20 mutual authentication)."""
    base = pki / "iso15118_2"
    return {"tls": True, "tls_ca_file": str(base / "certs" / "v2gRootCACert.pem"),
            "tls_cert_file": str(base / "certs" / "oemCertChain.pem"),
            "tls_key_file": str(base / "private_keys" / "oemLeaf.key"),
            "tls_key_password_file": str(base / "private_keys" / "oemLeafPassword.txt")}


@pytest.mark.slow
@pytest.mark.parametrize(("service", "mode"), [("AC_BPT", "Dynamic"), ("DC", "Scheduled")])
def test_our_ev_over_tls13_with_mutual_authentication(link: Link, tmp_path: Path,
                                                      josev_pki: Path, service: str,
                                                      mode: str) -> None:
    secc = start_secc(link, tmp_path / "secc", tls=True, enforce_tls=True, pki=josev_pki)
    try:
        result = run_our_ev(link, tmp_path / "ev", ev_config(
            service, mode, departure_s=8, **ev_tls(josev_pki)))
    finally:
        secc.stop()
    assert result["outcome"] == "terminated", result["reason"]
    assert result["tls_version"] == "TLSv1.3"
    assert "SDPRequest received: [Security: TLS" in secc.log()
    assert "TLS server started" in secc.log()
    assert result["sent"][-1] == "SessionStopReq"


@pytest.mark.slow
def test_our_ev_pauses_and_resumes_with_josev_secc(link: Link, tmp_path: Path) -> None:
    """Pause (SessionStop Pause), then a new SDP + connection with the old SessionID.
    Josev's SECC keeps no paused session across connections, so it answers with a new
    session and our EV runs the whole sequence again (the resume-joined path is covered
    by the unit tests and by our SECC)."""
    secc = start_secc(link, tmp_path / "secc")
    try:
        result = run_our_ev(link, tmp_path / "ev", ev_config(
            "AC_BPT", "Dynamic", departure_s=14, pause_at_s=4.0, resume_after_s=1.0))
    finally:
        secc.stop()
    assert result["outcome"] == "terminated", result["reason"]
    assert result["sessions"] == 2
    assert result["sent"].count("SessionStopReq") == 2
    assert result["sent"].count("supportedAppProtocolReq") == 2
    assert secc.log().count("SessionStopReq received") == 2
