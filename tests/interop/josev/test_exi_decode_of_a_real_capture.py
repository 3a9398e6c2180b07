"""`evse exi decode --pcap` on a real capture: our EV charging through Josev's SECC over
veth, every frame on the EV's interface written to a pcap file as it went by (issue 12:
"reads what a person captures ... printing each message decoded with its time")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from josev_harness import Link, Peer, start_secc
from test_our_ev_vs_josev_secc import ev_config, run_our_ev

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_decode_a_capture_of_our_ev_and_josev_secc(link: Link, tmp_path: Path) -> None:
    secc = start_secc(link, tmp_path / "secc")
    pcap = tmp_path / "session.pcap"
    sniffer = Peer(link.ev_ns, [sys.executable, str(HERE / "sniff_pcap.py"), link.ev_if,
                                str(pcap)], tmp_path, "sniffer")
    try:
        sniffer.wait_log("capturing")
        result = run_our_ev(link, tmp_path / "ev", ev_config("DC_BPT", "Dynamic",
                                                                 departure_s=4))
    finally:
        sniffer.stop()
        secc.stop()
    assert result["outcome"] == "terminated", result["reason"]
    decoded = subprocess.run([sys.executable, "-m", "evse.cli", "exi", "decode", "--pcap",
                              str(pcap)], capture_output=True, text=True, timeout=120,
                             check=False)
    assert decoded.returncode == 0, decoded.stderr + decoded.stdout[-2000:]
    records = [json.loads(line) for line in decoded.stdout.splitlines()]
    sdp = [r for r in records if "sdp" in r]
    assert [r["payload_type"] for r in sdp[:2]] == ["0x9000", "0x9001"]
    messages = [r for r in records if "message" in r]
    names = [next(iter(r["message"])) for r in messages]
    # Every request our EV sent is in the capture, in order, each answered.
    assert [n for n in names if n.endswith("Req")] == result["sent"]
    assert len(names) == 2 * len(result["sent"])
    ev_side = {r["src"] for r in messages if next(iter(r["message"])).endswith("Req")}
    assert len(ev_side) == 1  # one connection, one EV endpoint
    times = [r["t"] for r in records]
    assert times == sorted(times) and times[-1] > 1.0
