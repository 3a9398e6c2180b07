"""DC actions <-> hal contract mapping (evse/iso15118/d20/dc_hal.py)."""

from __future__ import annotations

from evse.iso15118.d20.dc_hal import from_report, to_hal
from evse.iso15118.d20.types import DcCommand, DcState
from hal import protocol as hp


def test_action_to_hal_message() -> None:
    assert to_hal(2, DcCommand("precharge", target_v=400.0)) == hp.DcCommand(
        2, "precharge", 400.0, 0.0)
    assert to_hal(1, DcCommand("off")) == hp.DcCommand(1, "off", 0.0, 0.0)


def test_report_to_view() -> None:
    r = hp.DcReport(1, "deliver", 401.0, -20.0, "valid", False, None, True)
    assert from_report(r) == DcState(present_v=401.0, present_a=-20.0, isolation="valid")


def test_invalid_or_odd_report_knows_nothing() -> None:
    assert from_report(hp.DcReport(1, "off", 9.0, 0.0, "valid", True, None, False)) == DcState()
    odd = from_report(hp.DcReport(1, "off", 0.0, 0.0, "shorted", False))
    assert odd.isolation == "unknown"  # never read an unknown word as a pass
