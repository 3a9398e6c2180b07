"""Property: documents generated from the grammar tables round-trip through the codec,
and the bytes decode to the same document and re-encode to the same bytes."""

from __future__ import annotations

from typing import Any

import pytest
from exi_strategies import documents
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evse.iso15118.exi.codec import Codec


@pytest.mark.parametrize("short", ["app", "common", "ac", "dc", "wpt", "acdp"])
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_generated_documents_round_trip(
    codecs: dict[str, Codec], short: str, data: st.DataObject
) -> None:
    doc: dict[str, Any] = data.draw(documents(short))
    codec = codecs[short]
    encoded = codec.encode(doc)
    assert encoded[0] == 0x80
    assert codec.decode(encoded) == doc
    assert codec.encode(codec.decode(encoded)) == encoded
