"""When hal tells evse its grid constraint (hal/unit/reports.py): a big move at once, a
small one within a report period (for an AC EVSE the car's inverter hears hal only
through the next ChargeLoopRes), an unchanged one refreshed once a second."""

from __future__ import annotations

from hal.grid.engine import GridConstraint, GridState
from hal.protocol import GridConstraintReport, Message
from hal.unit.reports import Reporter


def _rig() -> tuple[Reporter, list[GridConstraintReport]]:
    sent: list[GridConstraintReport] = []

    def publish(m: Message) -> None:
        if isinstance(m, GridConstraintReport):
            sent.append(m)

    rep = Reporter(1, publish, report_period_s=0.1, constraint_step_w=110.0)
    return rep, sent


def _c(p_min: float) -> GridConstraint:
    return GridConstraint(GridState.NORMAL, p_min, 11000.0, 0.0)


def test_a_move_above_one_percent_of_rating_is_reported_at_once() -> None:
    rep, sent = _rig()
    rep.constraint_changed(0.0, _c(-11000.0))
    rep.constraint_changed(0.02, _c(-10500.0))
    assert [r.p_min_w for r in sent] == [-11000.0, -10500.0]


def test_a_small_droop_move_reaches_evse_within_one_report_period() -> None:
    rep, sent = _rig()
    rep.constraint_changed(0.0, _c(-11000.0))
    rep.constraint_changed(0.02, _c(-10920.0))  # 80 W: below the 110 W step
    assert len(sent) == 1  # not one report per 20 ms sample during a ramp
    rep.constraint_changed(0.12, _c(-10920.0))
    assert [r.p_min_w for r in sent] == [-11000.0, -10920.0]


def test_an_unchanged_constraint_is_refreshed_once_a_second() -> None:
    rep, sent = _rig()
    rep.constraint_changed(0.0, _c(-11000.0))
    for i in range(1, 50):
        rep.constraint_changed(i * 0.02, _c(-11000.0))
    assert len(sent) == 1
    rep.constraint_changed(1.0, _c(-11000.0))
    assert len(sent) == 2
