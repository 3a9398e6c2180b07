"""The harness itself: Josev's EVCC against Josev's SECC over the veth link.

If this fails, the interop tests that use one Josev peer against us say nothing about us.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from josev_harness import Link, assert_clean, evcc_config, start_evcc, start_secc

HERE = Path(__file__).resolve().parent


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


@pytest.mark.slow
def test_josev_evcc_runner_chooses_the_control_mode(link: Link, tmp_path: Path) -> None:
    """josev_evcc_runner.py (used against our SECC) selects the parameter set whose
    ControlMode is the one asked; Josev's SECC offers Scheduled as set 1 (which Josev's
    own EV takes by default), Dynamic as set 2: asking for Dynamic shows the choice."""
    mode = 2
    secc = start_secc(link, tmp_path / "secc")
    evcc = start_evcc(link, tmp_path / "evcc", evcc_config("AC_BPT", loop_cycles=2),
                      runner=str(HERE / "josev_evcc_runner.py"), runner_args=[str(mode)])
    try:
        evcc.wait_log(r"SessionStopRes received")
        evcc.wait_exit()
    finally:
        evcc.stop()
        secc.stop()
    assert_clean(evcc.log(), "josev EVCC")
    selection = re.search(r'\{"ServiceSelectionReq": (\{.*\})\}', evcc.log())
    assert selection is not None
    chosen = json.loads(selection.group(1))["SelectedEnergyTransferService"]
    assert chosen == {"ServiceID": 5, "ParameterSetID": mode}
    assert "BPT_Dynamic_AC_CLReqControlMode" in evcc.log()
