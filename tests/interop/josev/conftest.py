"""Fixtures for the Josev interop tests: the peer's venv and a fresh veth link per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from josev_harness import Link, unavailable_reason, veth_link


@pytest.fixture(scope="session")
def josev() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def link(josev: None) -> Iterator[Link]:
    with veth_link() as made:
        yield made
