"""The two faces over the codec core: typed message classes and the `evse exi` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from exi_testdata import PROJECT_VECTORS, load_vectors

from evse.cli import main
from evse.iso15118.exi._generated import ac_types, common_types, dc_types, shared_types
from evse.iso15118.exi.codec import Codec
from evse.iso15118.exi.errors import ExiError

_VECTORS = load_vectors(PROJECT_VECTORS)


def _first(name: str) -> dict[str, Any]:
    return next(v for v in _VECTORS if name in v["json"])


@pytest.mark.parametrize("vector", _VECTORS[::7], ids=lambda v: next(iter(v["json"])))
def test_typed_classes_round_trip_vectors(vector: dict[str, Any], codecs: dict[str, Codec]) -> None:
    codec = codecs[vector["namespace"]]
    data = bytes.fromhex(vector["exi_hex"])
    name, message = codec.decode_message(data)
    assert message.to_json() == vector["json"][name]
    assert codec.encode_message(name, message) == data


def test_typed_dc_charge_loop_req_fields(codecs: dict[str, Codec]) -> None:
    vector = _first("DC_ChargeLoopReq")
    name, msg = codecs["dc"].decode_message(bytes.fromhex(vector["exi_hex"]))
    assert name == "DC_ChargeLoopReq"
    assert isinstance(msg, dc_types.DC_ChargeLoopReqType)
    body = vector["json"]["DC_ChargeLoopReq"]
    assert msg.Header.SessionID == bytes.fromhex(body["Header"]["SessionID"])
    assert msg.EVPresentVoltage.Value == body["EVPresentVoltage"]["Value"]


def test_typed_message_built_in_code_encodes(codecs: dict[str, Codec]) -> None:
    res = dc_types.DC_CableCheckResType(
        Header=dc_types.MessageHeaderType(SessionID=bytes(8), TimeStamp=1),
        ResponseCode="OK",
        EVSEProcessing="Finished",
    )
    data = codecs["dc"].encode_message("DC_CableCheckRes", res)
    assert codecs["dc"].decode_message(data) == ("DC_CableCheckRes", res)
    with pytest.raises(ExiError, match="needs a DC_CableCheckReqType"):
        codecs["dc"].encode_message("DC_CableCheckReq", res)


def test_common_types_are_one_class_in_every_namespace(codecs: dict[str, Codec]) -> None:
    """A header or a rational number built once serves AC, DC and common messages."""
    assert dc_types.RationalNumberType is shared_types.RationalNumberType
    assert ac_types.MessageHeaderType is common_types.MessageHeaderType
    header = shared_types.MessageHeaderType(SessionID=bytes(8), TimeStamp=7)
    req = common_types.SessionStopReqType(Header=header, ChargingSession="Terminate")
    res = dc_types.DC_CableCheckResType(Header=header, ResponseCode="OK",
                                        EVSEProcessing="Ongoing")
    assert codecs["common"].decode_message(codecs["common"].encode_message("SessionStopReq", req))[
        1
    ].Header == header
    assert codecs["dc"].decode_message(codecs["dc"].encode_message("DC_CableCheckRes", res))[
        1
    ] == res


def test_cli_decode_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    vector = _first("DC_ChargeLoopReq")
    assert main(["exi", "decode", "--namespace", "dc", vector["exi_hex"]]) == 0
    assert json.loads(capsys.readouterr().out) == vector["json"]


def test_cli_decode_takes_namespace_from_v2gtp_header(capsys: pytest.CaptureFixture[str]) -> None:
    vector = _first("SessionSetupReq")
    payload = bytes.fromhex(vector["exi_hex"])
    framed = bytes((1, 0xFE)) + (0x8002).to_bytes(2, "big") + len(payload).to_bytes(4, "big")
    assert main(["exi", "decode", (framed + payload).hex()]) == 0
    assert json.loads(capsys.readouterr().out) == vector["json"]


def test_cli_encode_prints_hex(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vector = _first("ScheduleExchangeRes")
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(vector["json"]), encoding="utf-8")
    assert main(["exi", "encode", "--namespace", "common", str(path)]) == 0
    assert capsys.readouterr().out.strip() == vector["exi_hex"]


def test_cli_encode_with_v2gtp_header_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vector = _first("DC_PreChargeReq")
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(vector["json"]), encoding="utf-8")
    assert main(["exi", "encode", "--namespace", "dc", "--v2gtp", str(path)]) == 0
    framed = capsys.readouterr().out.strip()
    payload = bytes.fromhex(vector["exi_hex"])
    assert framed == ("01fe8004" + len(payload).to_bytes(4, "big").hex() + vector["exi_hex"])
    assert main(["exi", "decode", framed]) == 0
    assert json.loads(capsys.readouterr().out) == vector["json"]


def test_cli_reports_codec_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exi", "decode", "--namespace", "dc", "80"]) == 1
    err = capsys.readouterr().err
    assert "bit 8" in err and "document" in err
    assert main(["exi", "decode", "--namespace", "dc", "zz"]) == 1
    assert "not hex" in capsys.readouterr().err


def test_cli_reads_stdin_in_a_real_process() -> None:
    vector = _first("DC_CableCheckRes")
    decoded = subprocess.run(
        [sys.executable, "-m", "evse.cli", "exi", "decode", "--namespace", "dc", "-"],
        input=vector["exi_hex"] + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(decoded.stdout) == vector["json"]
    encoded = subprocess.run(
        [sys.executable, "-m", "evse.cli", "exi", "encode", "--namespace", "dc", "-"],
        input=decoded.stdout,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert encoded.stdout.strip() == vector["exi_hex"]
