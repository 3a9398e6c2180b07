"""Fixtures for the EXI codec tests."""

from __future__ import annotations

import pytest

from evse.iso15118.exi.codec import NAMESPACES, Codec


@pytest.fixture(scope="session")
def codecs() -> dict[str, Codec]:
    """One codec per namespace, keyed by short name and by URN."""
    out: dict[str, Codec] = {}
    for ns in NAMESPACES:
        codec = Codec(ns)
        out[ns.short] = codec
        out[ns.urn] = codec
    return out
