"""Golden vectors: decode(exi) == json and encode(json) == exi, byte for byte.

The 178 session captures live in tests/data; the 50 vectors from other open stacks'
test suites are read from ../shared/iso15118/vectors (not copied, see its README).
"""

from __future__ import annotations

from typing import Any

import pytest
from exi_testdata import PROJECT_VECTORS, SHARED_VECTORS, load_vectors

from evse.iso15118.exi.codec import Codec

_PROJECT = load_vectors(PROJECT_VECTORS)
_SHARED = load_vectors(SHARED_VECTORS) if SHARED_VECTORS.exists() else []
_SHARED_MISSING = f"{SHARED_VECTORS} is absent (no shared folder beside the repo)"


def _id(v: dict[str, Any], i: int) -> str:
    return f"{i}-{next(iter(v['json']))}"


def test_vector_file_has_178_vectors() -> None:
    assert len(_PROJECT) == 178


@pytest.mark.parametrize("vector", _PROJECT, ids=[_id(v, i) for i, v in enumerate(_PROJECT)])
def test_session_vector_decodes_to_json(vector: dict[str, Any], codecs: dict[str, Codec]) -> None:
    assert codecs[vector["namespace"]].decode(bytes.fromhex(vector["exi_hex"])) == vector["json"]


@pytest.mark.parametrize("vector", _PROJECT, ids=[_id(v, i) for i, v in enumerate(_PROJECT)])
def test_session_vector_encodes_to_bytes(vector: dict[str, Any], codecs: dict[str, Codec]) -> None:
    assert codecs[vector["namespace"]].encode(vector["json"]).hex() == vector["exi_hex"]


@pytest.mark.skipif(not _SHARED, reason=_SHARED_MISSING)
def test_openstack_vector_file_has_50_vectors() -> None:
    assert len(_SHARED) == 50


@pytest.mark.skipif(not _SHARED, reason=_SHARED_MISSING)
@pytest.mark.parametrize("vector", _SHARED, ids=[_id(v, i) for i, v in enumerate(_SHARED)])
def test_openstack_vector_round_trips(vector: dict[str, Any], codecs: dict[str, Codec]) -> None:
    codec = codecs[vector["namespace"]]
    assert codec.decode(bytes.fromhex(vector["exi_hex"])) == vector["json"]
    assert codec.encode(vector["json"]).hex() == vector["exi_hex"]


def test_decoder_accepts_second_level_empty_string(codecs: dict[str, Codec]) -> None:
    """EXIficient writes an empty string as EE at the second level; the C codec as CH.

    Both must decode to "". Our encoder writes the first-level (CH) form.
    """
    codec = codecs["common"]
    doc = {
        "SessionSetupReq": {
            "Header": {"SessionID": "0000000000000000", "TimeStamp": 1},
            "EVCCID": "",
        }
    }
    first_level = codec.encode(doc)
    assert codec.decode(first_level) == doc
    # Rebuild the stream with the EVCCID element's content as escape (1) + EE (000).
    prefix = codec.encode({"SessionSetupReq": {**doc["SessionSetupReq"], "EVCCID": "A"}})
    bits = bin(int.from_bytes(prefix, "big"))[2:].zfill(len(prefix) * 8)
    # "A" is CH(0) + length 3 (8 bits) + 'A' (8 bits); then come EE(0) of EVCCID and
    # EE(0) of SessionSetupReq, then padding. Replace CH..EE by escape(1) + EE(000).
    marker = "0" + format(3, "08b") + format(ord("A"), "08b") + "0"
    at = bits.rindex(marker)
    second_level = bits[:at] + "1" + "000" + "0"
    second_level += "0" * (-len(second_level) % 8)
    data = int(second_level, 2).to_bytes(len(second_level) // 8, "big")
    assert data != first_level
    assert codec.decode(data) == doc
