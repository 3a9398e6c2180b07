"""Josev's EVCC (the `iso15118` package, an independent EV) against OUR SECC over veth.

Josev's EVCC offers one -20 namespace and one energy service from its JSON config and
takes the first matching parameter set unless told otherwise (josev_evcc_runner.py picks
the control mode): AC, AC_BPT, DC, DC_BPT x Scheduled, Dynamic, TLS off. A run is clean
when Josev's log ends with SessionStop and has no traceback (issue 12, Interop).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from josev_harness import Link, Peer, assert_clean, evcc_config, messages, start_evcc

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("evse.iso15118.secc") is None,
    reason="our SECC not merged yet",
)


def start_our_secc(link: Link, cwd: Path) -> Peer:
    cwd.mkdir(parents=True, exist_ok=True)
    secc = Peer(link.secc_ns, [sys.executable, str(HERE / "our_secc_runner.py"), link.secc_if],
                cwd, "our-secc")
    secc.wait_log(r"^ready$|\nready\n")
    return secc


@pytest.mark.slow
@pytest.mark.parametrize("mode", [1, 2], ids=["Scheduled", "Dynamic"])
@pytest.mark.parametrize("service", ["AC", "AC_BPT", "DC", "DC_BPT"])
def test_josev_evcc_charges_through_our_secc(link: Link, tmp_path: Path, service: str,
                                             mode: int) -> None:
    secc = start_our_secc(link, tmp_path / "secc")
    evcc = start_evcc(link, tmp_path / "evcc", evcc_config(service, loop_cycles=5),
                      runner=str(HERE / "josev_evcc_runner.py"), runner_args=[str(mode)])
    try:
        evcc.wait_log(r"SessionStopRes received")
        evcc.wait_exit()
    finally:
        evcc.stop()
        secc.stop()
    assert_clean(evcc.log(), "josev EVCC")
    sent = messages(evcc.log())
    loop = "DC_ChargeLoopReq" if service.startswith("DC") else "AC_ChargeLoopReq"
    assert loop in sent
    assert "Traceback" not in secc.log()
