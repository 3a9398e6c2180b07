"""Strictness: malformed streams give ExiError with bit offset and grammar state;
documents that break the schema's facets give ExiError naming the path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from evse.iso15118.exi.codec import Codec
from evse.iso15118.exi.errors import ExiError

_LOOP_REQ: dict[str, Any] = {
    "DC_ChargeLoopReq": {
        "Header": {"SessionID": "887BC9CCB1D7CDF6", "TimeStamp": 1795304761},
        "MeterInfoRequested": False,
        "EVPresentVoltage": {"Exponent": 0, "Value": 400},
        "Scheduled_DC_CLReqControlMode": {
            "EVTargetCurrent": {"Exponent": 0, "Value": 10},
            "EVTargetVoltage": {"Exponent": 0, "Value": 400},
        },
    }
}


def _doc(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_LOOP_REQ)
    body = doc["DC_ChargeLoopReq"]
    for key, value in changes.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    return doc


def test_valid_document_round_trips(codecs: dict[str, Codec]) -> None:
    data = codecs["dc"].encode(_LOOP_REQ)
    assert codecs["dc"].decode(data) == _LOOP_REQ


def test_wrong_header_byte_is_rejected(codecs: dict[str, Codec]) -> None:
    with pytest.raises(ExiError) as err:
        codecs["dc"].decode(b"\x81\x00")
    assert err.value.bit_offset == 0
    assert err.value.state == "header"


def test_empty_stream_is_rejected(codecs: dict[str, Codec]) -> None:
    with pytest.raises(ExiError):
        codecs["dc"].decode(b"")


@pytest.mark.parametrize("cut", range(1, 30))  # the document is 30 bytes
def test_truncated_stream_reports_offset_and_state(codecs: dict[str, Codec], cut: int) -> None:
    data = codecs["dc"].encode(_LOOP_REQ)
    assert len(data) == 30
    with pytest.raises(ExiError) as err:
        codecs["dc"].decode(data[:cut])
    assert err.value.bit_offset is not None and 0 <= err.value.bit_offset <= cut * 8
    assert err.value.state
    assert "bit" in str(err.value)


def test_trailing_bytes_are_rejected(codecs: dict[str, Codec]) -> None:
    data = codecs["dc"].encode(_LOOP_REQ)
    with pytest.raises(ExiError, match="trailing"):
        codecs["dc"].decode(data + b"\x00")


def test_declared_string_length_beyond_stream_is_an_error(codecs: dict[str, Codec]) -> None:
    """A length prefix larger than what remains must fail before any allocation."""
    # SessionSetupReq: Header, then EVCCID (string). Encode a real one and patch the
    # length prefix of EVCCID to a huge value (5 octets of 7-bit groups).
    codec = codecs["common"]
    doc = {"SessionSetupReq": {"Header": {"SessionID": "00" * 8, "TimeStamp": 1}, "EVCCID": "A"}}
    bits = bin(int.from_bytes(codec.encode(doc), "big"))[2:].zfill(len(codec.encode(doc)) * 8)
    marker = format(3, "08b") + format(ord("A"), "08b")
    at = bits.rindex(marker)
    huge = "".join(format(b, "08b") for b in (0xFF, 0xFF, 0xFF, 0xFF, 0x0F))
    patched = bits[:at] + huge + bits[at + 8 :]
    patched += "0" * (-len(patched) % 8)
    data = int(patched, 2).to_bytes(len(patched) // 8, "big")
    with pytest.raises(ExiError, match="exceeds") as err:
        codec.decode(data)
    assert err.value.bit_offset == at
    assert err.value.state is not None and "SessionSetupReq" in err.value.state


def test_declared_binary_length_beyond_stream_is_an_error(codecs: dict[str, Codec]) -> None:
    # SessionSetupReq starts: header(8) + root code, Header SE(1) then SessionID SE(1),
    # CH(1), then the byte length. Claim 2**40 bytes.
    codec = codecs["common"]
    good = codec.encode(
        {"SessionSetupReq": {"Header": {"SessionID": "00" * 8, "TimeStamp": 1}, "EVCCID": "A"}}
    )
    bits = bin(int.from_bytes(good, "big"))[2:].zfill(len(good) * 8)
    at = bits.index(format(8, "08b"), 8)  # the SessionID length prefix (8)
    huge = "".join(format(b, "08b") for b in (0x80, 0x80, 0x80, 0x80, 0x80, 0x01))
    patched = bits[:at] + huge + bits[at + 8 :]
    patched += "0" * (-len(patched) % 8)
    with pytest.raises(ExiError, match="exceeds"):
        codec.decode(int(patched, 2).to_bytes(len(patched) // 8, "big"))


def test_out_of_range_enumeration_index_is_an_error_exi_7_2(codecs: dict[str, Codec]) -> None:
    # supportedAppProtocolRes ResponseCode: 3 values in 2 bits; index 3 is invalid.
    codec = codecs["app"]
    good = codec.encode({"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation"}})
    bits = bin(int.from_bytes(good, "big"))[2:].zfill(len(good) * 8)
    # header 8, root code 2 bits, SE(ResponseCode) 1 bit, CH 1 bit, then the 2-bit index.
    patched = bits[:12] + "11" + bits[14:]
    with pytest.raises(ExiError, match="enumeration") as err:
        codec.decode(int(patched, 2).to_bytes(len(good), "big"))
    assert err.value.bit_offset == 12


# --- encoder facets -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        (
            {"EVPresentVoltage": {"Exponent": 200, "Value": 1}},
            "DC_ChargeLoopReq/EVPresentVoltage/Exponent",
            "outside",
        ),
        (
            {"EVPresentVoltage": {"Exponent": 0, "Value": 40000}},
            "DC_ChargeLoopReq/EVPresentVoltage/Value",
            "outside",
        ),
        (
            {"EVPresentVoltage": {"Exponent": 0, "Value": "400"}},
            "DC_ChargeLoopReq/EVPresentVoltage/Value",
            "integer",
        ),
        ({"MeterInfoRequested": 1}, "DC_ChargeLoopReq/MeterInfoRequested", "true or false"),
        (
            {"Header": {"SessionID": "AB", "TimeStamp": 1}},
            "DC_ChargeLoopReq/Header/SessionID",
            "length",
        ),
        (
            {"Header": {"SessionID": "XYZ", "TimeStamp": 1}},
            "DC_ChargeLoopReq/Header/SessionID",
            "hex",
        ),
        (
            {"Header": {"SessionID": "00" * 8, "TimeStamp": -1}},
            "DC_ChargeLoopReq/Header/TimeStamp",
            "outside",
        ),
        (
            {"DisplayParameters": {"PresentSOC": 101}},
            "DC_ChargeLoopReq/DisplayParameters/PresentSOC",
            "outside",
        ),
        ({"EVPresentVoltage": None}, "DC_ChargeLoopReq", "missing required element"),
        ({"Bogus": 1}, "DC_ChargeLoopReq", "'Bogus'"),
    ],
)
def test_encoder_names_the_path_of_a_facet_violation(
    codecs: dict[str, Codec], changes: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(ExiError, match=reason) as err:
        codecs["dc"].encode(_doc(**changes))
    assert err.value.path == path


def test_encoder_rejects_two_choices_at_once(codecs: dict[str, Codec]) -> None:
    both = _doc(
        Dynamic_DC_CLReqControlMode={
            "EVTargetEnergyRequest": {"Exponent": 0, "Value": 1},
            "EVMaximumEnergyRequest": {"Exponent": 0, "Value": 1},
            "EVMinimumEnergyRequest": {"Exponent": 0, "Value": 1},
            "EVMaximumChargePower": {"Exponent": 0, "Value": 1},
            "EVMinimumChargePower": {"Exponent": 0, "Value": 1},
            "EVMaximumChargeCurrent": {"Exponent": 0, "Value": 1},
            "EVMaximumVoltage": {"Exponent": 0, "Value": 1},
            "EVMinimumVoltage": {"Exponent": 0, "Value": 1},
        }
    )
    with pytest.raises(ExiError) as err:
        codecs["dc"].encode(both)
    assert err.value.path == "DC_ChargeLoopReq"


def test_encoder_rejects_unknown_enumeration_value(codecs: dict[str, Codec]) -> None:
    doc = {"supportedAppProtocolRes": {"ResponseCode": "Maybe"}}
    with pytest.raises(ExiError, match="not one of") as err:
        codecs["app"].encode(doc)
    assert err.value.path == "supportedAppProtocolRes/ResponseCode"


def test_encoder_rejects_too_many_repetitions(codecs: dict[str, Codec]) -> None:
    proto = {
        "ProtocolNamespace": "urn:iso:std:iso:15118:-20:DC",
        "VersionNumberMajor": 1,
        "VersionNumberMinor": 0,
        "SchemaID": 1,
        "Priority": 1,
    }
    with pytest.raises(ExiError, match="too many 'AppProtocol' items: the schema allows 20"):
        codecs["app"].encode({"supportedAppProtocolReq": {"AppProtocol": [proto] * 21}})


def test_encoder_rejects_string_over_max_length(codecs: dict[str, Codec]) -> None:
    proto = {
        "ProtocolNamespace": "x" * 101,
        "VersionNumberMajor": 1,
        "VersionNumberMinor": 0,
        "SchemaID": 1,
        "Priority": 1,
    }
    with pytest.raises(ExiError, match="length 101") as err:
        codecs["app"].encode({"supportedAppProtocolReq": {"AppProtocol": [proto]}})
    assert err.value.path == "supportedAppProtocolReq/AppProtocol[0]/ProtocolNamespace"


def test_encoder_rejects_unknown_message(codecs: dict[str, Codec]) -> None:
    with pytest.raises(ExiError, match="not a global element"):
        codecs["dc"].encode({"AC_ChargeLoopReq": {}})
    with pytest.raises(ExiError, match="exactly one key"):
        codecs["dc"].encode({})


def test_encoder_checks_the_id_lexical_space(codecs: dict[str, Codec]) -> None:
    """xs:ID values are NCNames: a space or a leading digit is rejected, with the path."""
    doc = {
        "SignedMeteringData": {
            "Id": "1 bad",
            "SessionID": "00" * 8,
            "MeterInfo": {"MeterID": "m", "ChargedEnergyReadingWh": 1},
            "Scheduled_SMDTControlMode": {"SelectedScheduleTupleID": 1},
        }
    }
    with pytest.raises(ExiError, match="pattern") as err:
        codecs["common"].encode(doc)
    assert err.value.path == "SignedMeteringData/Id"
    doc["SignedMeteringData"]["Id"] = "id_1"
    assert codecs["common"].decode(codecs["common"].encode(doc)) == doc


def test_oversized_stream_is_refused_before_decoding(codecs: dict[str, Codec]) -> None:
    from evse.iso15118.exi.decoder import MAX_STREAM_BYTES

    with pytest.raises(ExiError, match="limit") as err:
        codecs["dc"].decode(b"\x80" + bytes(MAX_STREAM_BYTES))
    assert err.value.bit_offset == 0


def test_longest_accepted_hostile_stream_fails_fast(codecs: dict[str, Codec]) -> None:
    """A 64 KiB stream of string characters is read to its end and refused as truncated;
    no quadratic blow-up: this runs in well under a second (not asserted as a time)."""
    codec = codecs["common"]
    good = codec.encode(
        {"SessionSetupReq": {"Header": {"SessionID": "00" * 8, "TimeStamp": 1}, "EVCCID": "A"}}
    )
    bits = bin(int.from_bytes(good, "big"))[2:].zfill(len(good) * 8)
    at = bits.rindex(format(3, "08b") + format(ord("A"), "08b"))
    # Declare a 255-character EVCCID (its maxLength) and fill the stream with 'A's.
    body = bits[:at] + "".join(format(b, "08b") for b in (0x81, 0x02)) + "01000001" * 60000
    body += "0" * (-len(body) % 8)
    data = int(body, 2).to_bytes(len(body) // 8, "big")
    with pytest.raises(ExiError):
        codec.decode(data)


def _bits(data: bytes) -> str:
    return bin(int.from_bytes(data, "big"))[2:].zfill(len(data) * 8)


def _from_bits(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def test_decoder_resolves_string_table_hits_exi_7_3_3(codecs: dict[str, Codec]) -> None:
    """EXI 7.3.3: a repeated value may be sent as a local hit (uint 0 + index) or a
    global hit (uint 1 + index). Our encoder writes literals; the decoder takes all."""
    codec = codecs["common"]
    params = [{"Name": "Connector", "intValue": 1}, {"Name": "Connector", "intValue": 2}]
    doc = {"ServiceDetailRes": {
        "Header": {"SessionID": "00" * 8, "TimeStamp": 1}, "ResponseCode": "OK",
        "ServiceID": 2, "ServiceParameterList": {"ParameterSet": [
            {"ParameterSetID": 1, "Parameter": params}]}}}
    bits = _bits(codec.encode(doc))
    literal = format(len("Connector") + 2, "08b") + "".join(
        format(ord(c), "08b") for c in "Connector"
    )
    second = bits.index(literal, bits.index(literal) + 1)
    # Local partition of Name holds one value: the hit index has 0 bits.
    local_hit = bits[:second] + format(0, "08b") + bits[second + len(literal):]
    assert codec.decode(_from_bits(local_hit)) == doc
    # Global partition holds one value too ("Connector"): again a 0-bit index.
    global_hit = bits[:second] + format(1, "08b") + bits[second + len(literal):]
    assert codec.decode(_from_bits(global_hit)) == doc


def test_string_table_hit_into_empty_table_is_an_error(codecs: dict[str, Codec]) -> None:
    codec = codecs["common"]
    doc = {"SessionSetupReq": {"Header": {"SessionID": "00" * 8, "TimeStamp": 1},
                               "EVCCID": "A"}}
    bits = _bits(codec.encode(doc))
    at = bits.rindex(format(3, "08b") + format(ord("A"), "08b"))
    with pytest.raises(ExiError, match="empty table") as err:
        codec.decode(_from_bits(bits[:at] + format(0, "08b") + bits[at + 16:]))
    assert err.value.bit_offset == at


def test_large_document_round_trips_through_the_trimmed_stream(codecs: dict[str, Codec]) -> None:
    """Streams over 2 KiB drop already-read bits as they go; values must not change."""
    codec = codecs["common"]
    refs = [{"URI": f"#r{i}", "DigestMethod": {"Algorithm": "urn:sha256"},
             "DigestValue": "AAECAwQFBgcICQ=="} for i in range(600)]
    doc = {"SessionStopReq": {
        "Header": {"SessionID": "0102030405060708", "TimeStamp": 99, "Signature": {
            "SignedInfo": {"CanonicalizationMethod": {"Algorithm": "urn:c14n"},
                           "SignatureMethod": {"Algorithm": "urn:ecdsa"}, "Reference": refs},
            "SignatureValue": {"value": "AAAA"}}},
        "ChargingSession": "Terminate"}}
    data = codec.encode(doc)
    assert len(data) > 8 * 1024
    assert codec.decode(data) == doc
    for cut in (3000, 5000, len(data) - 1):
        with pytest.raises(ExiError):
            codec.decode(data[:cut])
