"""`evse exi decode` on what a person captures (issue 12): V2GTP-framed hex, one message
per line or a stream, and pcap / pcapng files of a TCP session, each message printed
decoded with its time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from exi_testdata import PROJECT_VECTORS, load_vectors
from pcap_writer import EV, SECC, ipv6_tcp, ipv6_udp, pcap, pcapng

from evse.cli import main
from evse.iso15118 import v2gtp
from evse.iso15118.exi.codec import find_namespace

T0 = 1_796_000_000.25
_VECTORS = load_vectors(PROJECT_VECTORS)


def session_messages() -> list[tuple[str, bytes]]:
    """Request/response pairs from the project's vectors, V2GTP-framed: (name, frame)."""
    wanted = ["SessionSetupReq", "SessionSetupRes", "DC_ChargeLoopReq", "DC_ChargeLoopRes",
              "SessionStopReq", "SessionStopRes"]
    out = []
    for name in wanted:
        v = next(v for v in _VECTORS if name in v["json"])
        ptype = find_namespace(v["namespace"]).payload_type
        out.append((name, v2gtp.pack(ptype, bytes.fromhex(v["exi_hex"]))))
    return out


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def names(records: list[dict[str, Any]]) -> list[str]:
    return [next(iter(r["message"])) for r in records if "message" in r]


def test_v2gtp_hex_one_message_per_line(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    msgs = session_messages()
    path = tmp_path / "dump.txt"
    path.write_text("".join(frame.hex() + "\n" for _, frame in msgs))
    with open(path) as f, pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdin", f)
        assert main(["exi", "decode", "-"]) == 0
    records = lines(capsys)
    assert names(records) == [n for n, _ in msgs]
    assert records[2]["namespace"] == "dc" and records[2]["payload_type"] == "0x8004"


def test_v2gtp_hex_stream_in_one_piece(capsys: pytest.CaptureFixture[str]) -> None:
    msgs = session_messages()
    assert main(["exi", "decode", b"".join(f for _, f in msgs).hex()]) == 0
    assert names(lines(capsys)) == [n for n, _ in msgs]


def test_v2gtp_stream_cut_short_says_so_and_keeps_what_came(
        capsys: pytest.CaptureFixture[str]) -> None:
    msgs = session_messages()
    data = b"".join(f for _, f in msgs[:2]) + msgs[2][1][:-3]
    assert main(["exi", "decode", data.hex()]) == 1
    records = lines(capsys)
    assert names(records) == ["SessionSetupReq", "SessionSetupRes"]
    assert "bytes after the last whole message" in records[-1]["error"]


def tcp_session(split: bool = True, reorder: bool = True, retransmit: bool = True
                ) -> list[tuple[float, bytes]]:
    """Frames of one TCP session carrying `session_messages()`: SYNs, then each message in
    its direction, the first one split in two segments, one pair swapped, one resent."""
    seq = {EV: 1000, SECC: 5000}
    port = {EV: 50123, SECC: 61000}
    frames: list[tuple[float, bytes]] = []
    t = T0
    for side in (EV, SECC):
        other = SECC if side == EV else EV
        frames.append((t, ipv6_tcp(side, other, port[side], port[other], seq[side], b"", 0x02)))
        seq[side] += 1
        t += 0.001
    for i, (name, frame) in enumerate(session_messages()):
        side = EV if name.endswith("Req") else SECC
        other = SECC if side == EV else EV
        chunks = [frame[:5], frame[5:]] if split and i == 0 else [frame]
        segs = []
        for chunk in chunks:
            segs.append(ipv6_tcp(side, other, port[side], port[other], seq[side], chunk))
            seq[side] += len(chunk)
        if reorder and len(segs) == 2:
            segs.reverse()  # the second half arrives first
        for seg in segs:
            frames.append((t, seg))
            t += 0.010
        if retransmit and i == 3:
            frames.append((t, segs[-1]))  # the same segment again
            t += 0.010
    return frames


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_pcap_of_a_tcp_session_each_message_with_its_time(
        fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = tcp_session()
    path = tmp_path / f"session.{fmt}"
    path.write_bytes(pcap(frames) if fmt == "pcap" else pcapng(frames))
    assert main(["exi", "decode", "--pcap", str(path)]) == 0
    records = lines(capsys)
    assert names(records) == [n for n, _ in session_messages()]
    first = records[0]
    # The first message completes with its first half, which came second: T0 + 12 ms.
    expected = datetime.fromtimestamp(T0 + 0.012, UTC).isoformat(timespec="microseconds")
    assert first["time"] == expected
    assert first["t"] == 0
    assert first["src"] == f"[{EV}]:50123" and first["dst"] == f"[{SECC}]:61000"
    assert records[1]["src"] == f"[{SECC}]:61000"
    assert [r["t"] for r in records] == sorted(r["t"] for r in records)


def test_pcap_with_linux_cooked_frames_and_sdp(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`tcpdump -i any` writes Linux cooked (SLL) frames; SDP goes over UDP 15118."""
    sdp_req = v2gtp.pack(v2gtp.SDP_REQ, b"\x10\x00")
    frames = [(T0, ipv6_udp(EV, "ff02::1", 40000, 15118, sdp_req)), *tcp_session()]
    sll = [(t, b"\x00\x00\x00\x01\x00\x06" + f[6:12] + b"\x00\x00" + f[12:14] + f[14:])
           for t, f in frames]
    path = tmp_path / "any.pcap"
    path.write_bytes(pcap(sll, linktype=113))
    assert main(["exi", "decode", "--pcap", str(path)]) == 0
    records = lines(capsys)
    assert records[0]["payload_type"] == "0x9000" and records[0]["sdp"] == "1000"
    assert names(records) == [n for n, _ in session_messages()]


def test_tls_session_is_named_not_decrypted_without_a_key_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hello = bytes.fromhex("160301002a010000260303") + bytes(32)
    frames = [(T0, ipv6_tcp(EV, SECC, 50123, 61001, 1, b"", 0x02)),
              (T0 + 0.01, ipv6_tcp(EV, SECC, 50123, 61001, 2, hello))]
    path = tmp_path / "tls.pcap"
    path.write_bytes(pcap(frames))
    assert main(["exi", "decode", "--pcap", str(path)]) == 0
    (record,) = lines(capsys)
    assert "not decrypted" in record["tls"] and "--keylog" in record["tls"]


def test_bad_capture_files_get_a_clear_error(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"hello world, not a capture")
    assert main(["exi", "decode", "--pcap", str(junk)]) == 1
    assert "not a pcap or pcapng" in capsys.readouterr().err
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(pcap(tcp_session())[:-7])
    assert main(["exi", "decode", "--pcap", str(cut)]) == 1
    assert "cut short" in capsys.readouterr().err
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(pcap([]))
    assert main(["exi", "decode", "--pcap", str(empty)]) == 1
    assert "no V2GTP message" in capsys.readouterr().err
    assert main(["exi", "decode", "--pcap", str(tmp_path / "missing.pcap")]) == 1


def test_undecodable_message_in_a_capture_is_reported_and_the_rest_decoded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msgs = session_messages()
    bad = v2gtp.pack(v2gtp.DC, b"\xff\xff\xff")
    data = msgs[0][1] + bad + msgs[1][1]
    assert main(["exi", "decode", data.hex()]) == 1
    records = lines(capsys)
    assert "error" in records[1] and records[1]["exi"] == "ffffff"
    assert names(records) == ["SessionSetupReq", "SessionSetupRes"]
