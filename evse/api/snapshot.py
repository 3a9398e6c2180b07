"""The controller's state -> a StationSnapshot for the API. Called by the controller on
its own loop, so it only reads (nothing awaits, nothing changes); it reads the
controller's views directly rather than growing the controller by accessors."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from evse.api.ems_inputs import EmsInputs
from evse.api.local_mode import LocalMode
from evse.api.status import EmsState, EvseSnapshot, StationSnapshot

if TYPE_CHECKING:
    from evse.api.client import MqttApi
    from evse.controller import Controller


def firmware_version() -> str:
    try:
        return metadata.version("evse-stack")
    except metadata.PackageNotFoundError:
        return "unknown"


def _mode_source(ctrl: Controller) -> str:
    src = ctrl.period_source
    if src is None:
        return "config"
    return "local" if isinstance(src, LocalMode) else "csms"


def station_snapshot(
    ctrl: Controller, api: MqttApi, uptime_s: float, now: float
) -> StationSnapshot:
    ems: EmsInputs = api.ems
    source = _mode_source(ctrl)
    evses = []
    for eid, view in ctrl.evses.items():
        m, c = view.measurement, view.constraint
        track = ctrl._translator.evses.get(eid)
        sent = ctrl._sent_request.get(eid)
        held = ems.ems_input(eid, now)
        left = ems.expires_in(eid, now)
        evses.append(
            EvseSnapshot(
                evse_id=eid,
                rated_charge_w=view.max_charge_w,
                rated_discharge_w=view.max_discharge_w,
                enabled=view.operative,
                allowed=view.allowed,
                cp_state=m.cp_state if m else None,
                contactor_closed=m.contactor_closed if m else None,
                plugged=bool(track and track.plugged),
                active_w=m.active_w if m else None,
                reactive_var=m.reactive_var if m else None,
                setpoint_w=m.setpoint_w if m else None,
                import_wh=m.import_wh if m and m.energy_valid else None,
                export_wh=m.export_wh if m and m.energy_valid else None,
                energy_valid=bool(m and m.energy_valid),
                operation_mode=(sent.operation_mode or None) if source != "config" and sent
                else None,
                mode_source=source,
                grid_state=c.state if c else None,
                p_min_w=c.p_min_w if c else None,
                p_max_w=c.p_max_w if c else None,
                q_var=c.q_var if c else None,
                alarms=tuple(
                    (a.control_type, a.grid_event_fault)
                    for a in (track.alarms or {}).values()
                ) if track else (),
                faults=tuple(sorted(track.faults.items())) if track else (),
                session_kind=view.session or "basic",
                ev=view.ev,
                ems=None if held is None or left is None
                else EmsState(held.setpoint_w, held.min_w, held.max_w, left),
            )
        )
    ocpp = ctrl._ocpp
    if ctrl.cfg.ocpp is None:
        link = "none"
    else:
        link = "connected" if ocpp is not None and ocpp.connected.is_set() else "disconnected"
    der = tuple((str(d.get("id", "")), str(d.get("controlType", ""))) for d in ctrl._der or [])
    return StationSnapshot(link, api.firmware, uptime_s, tuple(evses), der)
