"""`evse run` with an `[[iso15118]]` EVSE against a real hal on simulated hardware: the
SECC starts once the pilot is in B/C with 5 % duty (IEC 61851-1: digital communication)
and the link is assumed up, and a scripted car in its own network namespace runs a -20
session through it over a veth pair, TLS off and on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from secc_net import WAIT_S, can_make_netns, make_pki, veth_pair

from tests.conftest import HalProcess, sim_config

pytestmark = pytest.mark.skipif(can_make_netns() is not None, reason=str(can_make_netns()))

CLIENT = Path(__file__).with_name("secc_client.py")


def _config(d: Path, iface: str, tls: str, pki_dir: Path | None) -> Path:
    path = sim_config(d)
    text = path.read_text() + "pwm_duty_pct = 5.0\n\n[[iso15118]]\n"
    text += f'evse = 1\ninterface = "{iface}"\nevseid = "DE*ABC*E1"\ntls = "{tls}"\n'
    if pki_dir is not None:
        text += f'cert_chain = "{pki_dir}/secc_chain.pem"\n'
        text += f'private_key = "{pki_dir}/secc_key.pem"\n'
        text += f'oem_roots = "{pki_dir}/oem_root.pem"\n'
    path.write_text(text)
    return path


@pytest.mark.parametrize("tls", ["none", "required"])
def test_secc_in_evse_run_serves_a_car_over_veth(short_tmp: Path, tls: str) -> None:
    pki = make_pki(short_tmp) if tls != "none" else None
    with veth_pair("r" if tls == "none" else "s") as net:
        cfg = _config(short_tmp, net.secc_if, tls, short_tmp if pki else None)
        hal = HalProcess(cfg).start()
        evse = subprocess.Popen(
            [sys.executable, "-m", "evse.cli", "run", "--config", str(cfg)],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=(short_tmp / "evse.log").open("ab"),
        )
        try:
            args = [sys.executable, str(CLIENT), net.ev_if, "tcp" if pki is None else "tls"]
            if pki is not None:
                args += ["--ca", str(pki.secc_root), "--cert", str(pki.ev_chain)]
                args += ["--key", str(pki.ev_key)]
            # SDP retries until evse has seen the pilot in B/C and started the SECC
            res = subprocess.run(
                ["ip", "netns", "exec", net.netns, *args],
                capture_output=True,
                timeout=WAIT_S * 3,
            )
            log = (short_tmp / "evse.log").read_text()
            assert res.returncode == 0, res.stderr.decode() + log
            lines = [json.loads(x) for x in res.stdout.decode().splitlines()]
            got = [(x["response"], x["code"]) for x in lines if "response" in x]
            assert got == [
                ("supportedAppProtocolRes", "OK_SuccessfulNegotiation"),
                ("SessionSetupRes", "OK_NewSessionEstablished"),
                ("AuthorizationSetupRes", "OK"),
                ("AuthorizationRes", "OK"),  # free vend (no CSMS): authorized at once
                ("ServiceDiscoveryRes", "OK"),
                ("ServiceDetailRes", "OK"),
                ("ServiceSelectionRes", "OK"),
                ("SessionStopRes", "OK"),
            ], log
            discovery = next(x for x in lines if x.get("response") == "ServiceDiscoveryRes")
            assert discovery["services"] == [2]  # DC; no BPT without OCPP Q01's consent
            assert evse.poll() is None
        finally:
            evse.send_signal(signal.SIGTERM)
            try:
                evse.wait(WAIT_S)
            finally:
                if evse.poll() is None:
                    evse.kill()
                hal.stop(signal.SIGKILL)
