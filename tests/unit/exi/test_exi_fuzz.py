"""Fuzzing the decoder: random bytes and mutated golden vectors (bit flips, truncation,
extension) may only ever raise ExiError, never another exception or a hang; and any
stream that does decode re-encodes to a stream that decodes to the same document.

`make test` runs a bounded number; `make fuzz` sets EXI_FUZZ_EXAMPLES for a long run.
"""

from __future__ import annotations

import os
import random

from exi_testdata import PROJECT_VECTORS, load_vectors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evse.iso15118.exi.codec import Codec
from evse.iso15118.exi.errors import ExiError

_EXAMPLES = int(os.environ.get("EXI_FUZZ_EXAMPLES", "300"))
_MUTATIONS = max(2000, _EXAMPLES * 10)
_VECTORS = load_vectors(PROJECT_VECTORS)


def _check(codec: Codec, data: bytes) -> bool:
    """Decode; on success the document must survive encode/decode. True if it decoded."""
    try:
        doc = codec.decode(data)
    except ExiError as e:
        assert e.bit_offset is not None or e.state is not None, str(e)
        return False
    again = codec.decode(codec.encode(doc))
    assert again == doc
    return True


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    op = rng.randrange(4)
    if op == 0:  # flip 1-3 bits
        for _ in range(rng.randint(1, 3)):
            bit = rng.randrange(len(buf) * 8)
            buf[bit // 8] ^= 0x80 >> (bit % 8)
    elif op == 1:  # truncate
        del buf[rng.randrange(1, len(buf)) :]
    elif op == 2:  # extend
        buf += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    else:  # overwrite one byte
        buf[rng.randrange(1, len(buf))] = rng.randrange(256)
    return bytes(buf)


def test_mutated_vectors_only_raise_exi_error(codecs: dict[str, Codec]) -> None:
    rng = random.Random(15118)
    decoded = 0
    for _ in range(_MUTATIONS):
        vector = rng.choice(_VECTORS)
        codec = codecs[vector["namespace"]]
        decoded += _check(codec, _mutate(rng, bytes.fromhex(vector["exi_hex"])))
    # Some flips land in values and still decode: the round-trip check saw those.
    assert decoded > 0


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    namespace=st.sampled_from(["app", "common", "ac", "dc", "wpt", "acdp"]),
    body=st.binary(max_size=200),
)
def test_random_bytes_only_raise_exi_error(
    codecs: dict[str, Codec], namespace: str, body: bytes
) -> None:
    _check(codecs[namespace], b"\x80" + body)


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=64))
def test_random_bytes_without_header_only_raise_exi_error(
    codecs: dict[str, Codec], data: bytes
) -> None:
    _check(codecs["dc"], data)
