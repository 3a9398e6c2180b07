"""The DC actions of the -20 handlers and hal's DC contract, mapped both ways (pure):
a `DcCommand` action becomes the hal message, a hal `dc_report` becomes the
`StationView.dc` snapshot the next handler answers from. For the coordinator."""

from __future__ import annotations

from typing import Literal, cast

from evse.iso15118.d20.types import DcCommand, DcState
from hal import protocol as hp

Isolation = Literal["unknown", "ongoing", "valid", "warning", "fault"]
_ISOLATION = ("unknown", "ongoing", "valid", "warning", "fault")


def to_hal(evse_id: int, action: DcCommand) -> hp.DcCommand:
    return hp.DcCommand(evse_id, action.kind, action.target_v or 0.0, action.target_a or 0.0)


def from_report(report: hp.DcReport) -> DcState:
    """No valid measurement: nothing is known (the handlers then wait or fail, bounded)."""
    if not report.valid:
        return DcState()
    isolation = report.isolation if report.isolation in _ISOLATION else "unknown"
    return DcState(
        present_v=report.present_v,
        present_a=report.present_a,
        isolation=cast(Isolation, isolation),
        precharge_done=report.precharge_done,
        welding_v=report.welding_v,
    )
