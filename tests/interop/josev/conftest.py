"""Fixtures for the Josev interop tests: the peer's venv and a fresh veth link per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from josev_harness import Link, make_pki, unavailable_reason, veth_link


@pytest.fixture(scope="session")
def josev() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def link(josev: None) -> Iterator[Link]:
    with veth_link() as made:
        yield made


@pytest.fixture(scope="session")
def josev_pki(josev: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Josev's -20 test PKI (V2G root, CPO chain for the SECC, OEM chain for the EV)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl: Josev's create_certs.sh makes its test PKI with it")
    return make_pki(tmp_path_factory.mktemp("josev-pki"))
