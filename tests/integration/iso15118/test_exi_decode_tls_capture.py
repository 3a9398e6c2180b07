"""`evse exi decode --pcap --keylog` on a real TLS 1.3 capture (issue 12: "pcap files of a
TCP session (... or with the TLS key log our SECC can write when configured for
debugging)"): our EV charges through `evse run` (hal on simulated hardware) over veth
with `tls = "required"` and `key_log` set, tcpdump writes what crosses the SECC's
interface, and the decoder's messages are the ones the EV sent and received. The suite
is OpenSSL's choice (TLS_AES_256_GCM_SHA384), or TLS_CHACHA20_POLY1305_SHA256 when the
EV's OpenSSL offers only that (OPENSSL_CONF). A key log of another session is a clear
error."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from secc_net import WAIT_S, can_make_netns, make_pki, veth_pair
from test_ev_vs_secc import REQUEST_W, station_config

from tests.conftest import HalProcess

pytestmark = [
    pytest.mark.skipif(can_make_netns() is not None, reason=str(can_make_netns())),
    pytest.mark.skipif(shutil.which("tcpdump") is None,
                       reason="needs tcpdump (Debian package tcpdump; .ci/run installs it)"),
]

CHACHA_ONLY = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Ciphersuites = TLS_CHACHA20_POLY1305_SHA256
"""


def run_ev(netns: str, iface: str, d: Path, env: dict[str, str]) -> dict[str, Any]:
    cfg = {
        "service": "AC", "control_mode": "Dynamic", "departure_s": 3, "loop_interval_s": 0.1,
        "soc_start": 30.0, "capacity_wh": 60000.0, "sdp_tries": 200, "timeout_scale": 4.0,
        "script": [{"at_s": 0.0, "power_w": REQUEST_W}], "tls": True,
        "tls_ca_file": f"{d}/v2g_root.pem", "tls_cert_file": f"{d}/ev_chain.pem",
        "tls_key_file": f"{d}/ev_key.pem",
    }
    (d / "ev.json").write_text(json.dumps(cfg))
    res = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "evse.sim.ev",
         "--iface", iface, "--config", str(d / "ev.json")],
        capture_output=True, timeout=WAIT_S * 4, env=env, check=False)
    out = res.stdout.decode().strip().splitlines()
    assert out, res.stderr.decode()
    doc: dict[str, Any] = json.loads(out[-1])
    return doc


def settled(path: Path) -> None:
    """Wait until the capture file has not grown for 1 s (bounded)."""
    deadline, size, since = time.monotonic() + WAIT_S, -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < 1.0:
        now_size = path.stat().st_size if path.exists() else 0
        if now_size != size:
            size, since = now_size, time.monotonic()
        time.sleep(0.1)


def capture_session(d: Path, suite: str) -> dict[str, Any]:
    """One TLS session of our EV through `evse run`, captured into d/session.pcap."""
    make_pki(d)
    env = dict(os.environ)
    if suite == "TLS_CHACHA20_POLY1305_SHA256":
        (d / "openssl.cnf").write_text(CHACHA_ONLY)
        env["OPENSSL_CONF"] = str(d / "openssl.cnf")
    with veth_pair(f"k{suite[4]}") as net:
        cfg = station_config(d, "ac", net.secc_if, tls=True)
        cfg.write_text(cfg.read_text() + f'key_log = "{d}/keys.log"\n')
        dump_err = (d / "tcpdump.err").open("wb")
        # --immediate-mode: each packet to the file as it comes (no 1 s kernel block wait)
        dump = subprocess.Popen(["tcpdump", "-i", net.secc_if, "--immediate-mode", "-U", "-n",
                                 "-w",
                                 str(d / "session.pcap")],
                                stdout=subprocess.DEVNULL, stderr=dump_err)
        hal = HalProcess(cfg).start()
        evse = subprocess.Popen([sys.executable, "-m", "evse.cli", "run", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=(d / "evse.log").open("ab"))
        try:
            deadline = time.monotonic() + WAIT_S
            while b"listening on" not in (d / "tcpdump.err").read_bytes():
                assert dump.poll() is None and time.monotonic() < deadline, \
                    (d / "tcpdump.err").read_text()
                time.sleep(0.05)
            result = run_ev(net.netns, net.ev_if, d, env)
            assert result["outcome"] == "terminated", (result["reason"],
                                                       (d / "evse.log").read_text()[-3000:])
            assert result["tls_version"] == "TLSv1.3"
            return result
        finally:
            settled(d / "session.pcap")  # the last segments (SessionStopRes, FIN) written
            for proc in (dump, evse):
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(WAIT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            hal.stop(signal.SIGKILL)


def decode(d: Path, keylog: Path) -> tuple[int, list[dict[str, Any]], str]:
    res = subprocess.run([sys.executable, "-m", "evse.cli", "exi", "decode", "--pcap",
                          str(d / "session.pcap"), "--keylog", str(keylog)],
                         capture_output=True, text=True, timeout=120, check=False)
    return res.returncode, [json.loads(line) for line in res.stdout.splitlines()], res.stderr


@pytest.mark.parametrize("suite", ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"])
def test_tls_capture_of_our_ev_and_evse_run_decrypted_with_the_secc_key_log(
        short_tmp: Path, suite: str) -> None:
    result = capture_session(short_tmp, suite)
    code, records, err = decode(short_tmp, short_tmp / "keys.log")
    assert code == 0, (err, records[-5:])
    notes = [r["tls"] for r in records if "tls" in r]
    assert notes[0] == f"TLS 1.3 {suite}, decrypted with the key log"
    sdp = [r["payload_type"] for r in records if "sdp" in r]  # the EV asks until answered
    assert sdp[-1] == "0x9001" and set(sdp[:-1]) == {"0x9000"}
    messages = [r for r in records if "message" in r]
    names = [next(iter(r["message"])) for r in messages]
    # Every request the EV sent, in order, each answered; nothing else.
    assert [n for n in names if n.endswith("Req")] == result["sent"]
    assert len(names) == 2 * len(result["sent"])
    # The targets the EV read from each AC_ChargeLoopRes are those in the capture.
    loops = [r["message"]["AC_ChargeLoopRes"] for r in messages
             if "AC_ChargeLoopRes" in r["message"]]
    targets = []
    for loop in loops:  # per phase: the base element is L1 when _L2 / _L3 are present
        mode = loop["Dynamic_AC_CLResControlMode"]
        targets.append(sum(v["Value"] * 10.0 ** v["Exponent"] for k, v in mode.items()
                           if k.startswith("EVSETargetActivePower")))
    assert targets == pytest.approx([x["target_w"] for x in result["loops"]], abs=1e-6)
    times = [r["t"] for r in messages]
    assert times == sorted(times) and times[-1] - times[0] > 2.0  # departure after 3 s


def test_tls_capture_with_the_key_log_of_another_session_is_a_clear_error(
        short_tmp: Path) -> None:
    capture_session(short_tmp, "TLS_AES_256_GCM_SHA384")
    text = (short_tmp / "keys.log").read_text()
    other = short_tmp / "other.log"
    other.write_text("".join(line.split()[0] + " " + "ab" * 32 + " " + line.split()[2] + "\n"
                             for line in text.splitlines() if line and line[0] != "#"))
    code, records, _ = decode(short_tmp, other)
    assert code == 1
    errors = [r["error"] for r in records if "error" in r]
    assert len(errors) == 1 and "the key log has no secrets for this session" in errors[0]
    assert [r for r in records if "message" in r and "Req" in next(iter(r["message"]))
            and next(iter(r["message"])) != "supportedAppProtocolReq"] == []
