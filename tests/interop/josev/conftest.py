"""Fixtures for the Josev interop tests: the peer's venv and a fresh veth link per test."""

from __future__ import annotations

import os
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


# Each run against the `iso15118` package starts a JVM and takes 10-40 s. `make test` runs
# one representative per direction and transport (BPT both ways, AC and DC, Scheduled
# (with absolute prices and with price levels) and Dynamic); `make interop`
# (INTEROP_FULL=1) runs every combination.
_CI_SUBSET = {
    "test_josev_evcc_charges_through_our_secc": {"[AC_BPT-Dynamic]", "[DC-Dynamic]",
                                                 "[AC-Scheduled]", "[DC_BPT-Scheduled]"},
    "test_josev_evcc_through_our_secc_over_tls13": {"[AC_BPT]"},
    "test_our_ev_charges_through_josev_secc": {"[AC_BPT-Dynamic]", "[DC_BPT-Scheduled]"},
    "test_our_ev_over_tls13_with_mutual_authentication": {"[AC_BPT-Dynamic]"},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("INTEROP_FULL") == "1":
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        name, _, params = item.name.partition("[")
        subset = _CI_SUBSET.get(name)
        if subset is None or f"[{params}" in subset:
            keep.append(item)
        else:
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
