"""Status JSON from a snapshot, pure. The controller hands the API a `StationSnapshot`
(what it already knows: hal's reports, the request in force, the DER set, the OCPP link);
this turns it into the payloads of `{prefix}/status` and `{prefix}/evse/{id}/status`.

Each payload is split for the publisher (status_gate.py): `discrete` fields (pilot,
contactor, modes, grid state, ...) go out at once when they change; `measured` ones (power,
energy) at most every `status_min_interval_s`; `volatile` ones (uptime) only with the
periodic refresh, since they change on every look."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from evse.station.ev_status import EvSessionStatus


@dataclass(frozen=True, slots=True)
class EmsState:
    """The EMS input in force for an EVSE (Q05/Q06) and when it expires."""

    setpoint_w: float | None
    min_w: float | None
    max_w: float | None
    expires_in_s: float


@dataclass(frozen=True, slots=True)
class EvseSnapshot:
    evse_id: int
    rated_charge_w: float
    rated_discharge_w: float
    enabled: bool  # operative (not disabled by the CSMS or the API)
    allowed: bool  # may take power (authorized, or free vend started)
    cp_state: str | None = None  # None: no measurement from hal yet
    contactor_closed: bool | None = None
    plugged: bool = False
    active_w: float | None = None
    reactive_var: float | None = None
    setpoint_w: float | None = None  # what hal commands the power stage now
    import_wh: float | None = None
    export_wh: float | None = None
    energy_valid: bool = False
    operation_mode: str | None = None  # the mode of the request in force; None: config's
    mode_source: str = "config"  # csms | local | config
    grid_state: str | None = None  # normal | ceased | tripped | entering_service
    p_min_w: float | None = None
    p_max_w: float | None = None
    q_var: float | None = None
    alarms: tuple[tuple[str, str], ...] = ()  # (controlType, gridEventFault) in force
    faults: tuple[tuple[str, str], ...] = ()  # (device, reason)
    ems: EmsState | None = None
    ev: EvSessionStatus | None = None  # the car's ISO 15118-20 session, while it runs
    session_kind: str = "basic"  # the [slac] coordinator's: iso15118 / basic / none


@dataclass(frozen=True, slots=True)
class StationSnapshot:
    ocpp: str  # connected | disconnected | none (no CSMS configured)
    firmware: str
    uptime_s: float
    evses: tuple[EvseSnapshot, ...]
    der_controls: tuple[tuple[str, str], ...] = ()  # (id, controlType) in force (R04)


@dataclass(frozen=True, slots=True)
class StatusPayload:
    topic: str
    payload: bytes  # the whole JSON document
    discrete: str = ""  # change -> publish at once
    measured: str = ""  # change -> publish within status_min_interval_s


def _r(x: float | None, nd: int = 0) -> float | None:
    """Rounded for the wire (W to 1 W, Wh to 1 Wh): noise below that is not a change."""
    return None if x is None else round(float(x), nd) + 0.0


def session_state(s: EvseSnapshot) -> str:
    """Basic charging (IEC 61851-1) until the SECC exists: the car's side from the pilot,
    ours from the contactor and the power flowing."""
    if not s.enabled:
        return "disabled"
    if s.cp_state is None:
        return "unknown"
    if not s.plugged:
        return "unplugged"
    if s.contactor_closed and s.active_w is not None and abs(s.active_w) >= 50.0:
        return "charging" if s.active_w > 0 else "discharging"
    if s.contactor_closed:
        return "energized"
    return "plugged" if s.allowed else "waiting_for_authorization"


def _discrete_evse(s: EvseSnapshot) -> dict[str, Any]:
    ems = None
    if s.ems is not None:
        ems = {"setpoint_w": _r(s.ems.setpoint_w), "min_w": _r(s.ems.min_w),
               "max_w": _r(s.ems.max_w)}
    return {
        "evse_id": s.evse_id,
        "enabled": s.enabled,
        "allowed": s.allowed,
        "pilot": s.cp_state,
        "contactor": None if s.contactor_closed is None else (
            "closed" if s.contactor_closed else "open"),
        "session": {"kind": s.session_kind, "state": session_state(s)},
        "operation_mode": s.operation_mode,
        "mode_source": s.mode_source,
        "grid": {"state": s.grid_state, "p_min_w": _r(s.p_min_w), "p_max_w": _r(s.p_max_w),
                 "q_var": _r(s.q_var)},
        "der_alarms": [{"controlType": c, "gridEventFault": f} for c, f in s.alarms],
        "faults": [{"device": d, "reason": r} for d, r in s.faults],
        "ems": ems,
        "ev": _ev(s),
    }


def _ev(s: EvseSnapshot) -> dict[str, Any]:
    """The car's side of its -20 session; without one (or before its limits are known)
    the unit's ratings stand in for the limits."""
    ev = s.ev if s.ev is not None else EvSessionStatus(stage="none")
    known = ev.max_charge_w is not None
    departure = None if ev.departure_epoch_s is None else datetime.fromtimestamp(
        ev.departure_epoch_s, UTC).isoformat().replace("+00:00", "Z")
    return {
        "soc_pct": ev.soc_pct, "target_soc_pct": ev.target_soc_pct,
        "min_soc_pct": ev.min_soc_pct, "departure": departure,
        "max_charge_w": _r(ev.max_charge_w) if known else _r(s.rated_charge_w),
        "max_discharge_w": _r(ev.max_discharge_w) if known else _r(s.rated_discharge_w),
        "limits_source": "ev" if known else "unit",
        "service": ev.service, "control_mode": ev.control_mode, "stage": ev.stage,
    }


def _measured_evse(s: EvseSnapshot) -> dict[str, Any]:
    return {
        "active_w": _r(s.active_w),
        "reactive_var": _r(s.reactive_var),
        "setpoint_w": _r(s.setpoint_w),
        "energy": {"import_wh": _r(s.import_wh), "export_wh": _r(s.export_wh),
                   "valid": s.energy_valid},
    }


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def evse_status(topic: str, s: EvseSnapshot) -> StatusPayload:
    discrete, measured = _discrete_evse(s), _measured_evse(s)
    expires = None if s.ems is None else round(s.ems.expires_in_s, 1)
    doc = {**discrete, **measured}
    if doc["ems"] is not None:
        doc["ems"] = {**doc["ems"], "expires_in_s": expires}
    return StatusPayload(topic, _dump(doc).encode(), _dump(discrete), _dump(measured))


def station_status(topic: str, s: StationSnapshot) -> StatusPayload:
    discrete = {
        "ocpp": s.ocpp,
        "firmware": s.firmware,
        "evses": [e.evse_id for e in s.evses],
        "der_controls": [{"id": i, "controlType": c} for i, c in s.der_controls],
    }
    doc = {**discrete, "uptime_s": round(s.uptime_s)}
    return StatusPayload(topic, _dump(doc).encode(), _dump(discrete), "")
