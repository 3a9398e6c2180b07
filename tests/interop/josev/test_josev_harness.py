"""The harness itself: Josev's EVCC against Josev's SECC over the veth link.

If this fails, the interop tests that use one Josev peer against us say nothing about us.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from josev_harness import Link, assert_clean, evcc_config, start_evcc, start_secc


@pytest.mark.slow
def test_josev_evcc_against_josev_secc_ac_over_veth(link: Link, tmp_path: Path) -> None:
    secc = start_secc(link, tmp_path / "secc")
    evcc = start_evcc(link, tmp_path / "evcc", evcc_config("AC", loop_cycles=2))
    try:
        evcc.wait_log(r"SessionStopRes received")
        evcc.wait_exit()
        assert_clean(evcc.log(), "josev EVCC")
        secc.wait_log(r"SessionStopReq received")
        assert "Traceback" not in secc.log()
    finally:
        evcc.stop()
        secc.stop()
