"""The power request for one EVSE: the energy manager's decision from everything the
controller knows (period in force, the car's limits, Q01, hal's constraint, the grid
meter, aFRR, the local EMS), or the config's fixed request when no period is in force."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from evse.energy.manager import EnergyInputs, EvLimits, decide
from hal.protocol import PowerRequest

if TYPE_CHECKING:
    from evse.controller import Controller

log = logging.getLogger(__name__)


def power_request(ctrl: Controller, eid: int) -> PowerRequest:
    period = ctrl.period_source.current_period(eid) if ctrl.period_source else None
    if period is None:
        w = ctrl.request_w
        return PowerRequest(eid, "setpoint", w, min(w, 0.0), max(w, 0.0))
    view, m = ctrl.evses[eid], ctrl.evses[eid].measurement
    now = ctrl.clock()
    bal = ctrl.grid_meter.balance(eid, now)  # None: no valid, fresh reading
    inputs = EnergyInputs(
        eid,
        period,
        view.ev_limits or EvLimits(view.max_charge_w, view.max_discharge_w),
        now,
        # Q01/Q02: discharge only when the CSMS allowed it for the transaction.
        may_discharge=view.max_discharge_w > 0 and ctrl.v2x(eid),
        constraint=view.constraint,
        frequency_hz=m.frequency_hz if m is not None and m.grid_valid else None,
        site_import_w=bal.site_import_w if bal else None,
        own_w=bal.own_w if bal else 0.0,
        grid_limit_w=ctrl.cfg.controller.grid_limit_w,
        afrr_signal=ctrl.signal_source.signal_now() if ctrl.signal_source else None,
        ems=ctrl.ems_source.ems_input(eid, now) if ctrl.ems_source else None,
    )
    decision = decide(inputs)
    if decision.note:
        log.warning("evse %d: %s", eid, decision.note)
    return decision.request
