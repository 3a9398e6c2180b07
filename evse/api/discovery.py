"""Home Assistant MQTT discovery (off by default: `[mqtt] ha_discovery`), pure: one
retained config per entity under `{ha_prefix}/{component}/{node}/{object}/config`,
pointing at the status topics and the command topics of topics.py. Per EVSE: sensors
(power, energy, pilot, session, grid state, operation mode), a number for the external
setpoint, switches for enable and (free vend) charging; availability is the online
topic."""

from __future__ import annotations

import json
from typing import Any

from evse.api.status import StationSnapshot
from evse.api.topics import Topics

_SENSORS = (
    # object id, name, value template, unit, device class, state class
    ("active_power", "Active power", "{{ value_json.active_w }}", "W", "power", "measurement"),
    ("import", "Energy imported", "{{ value_json.energy.import_wh }}", "Wh", "energy",
     "total_increasing"),
    ("export", "Energy exported", "{{ value_json.energy.export_wh }}", "Wh", "energy",
     "total_increasing"),
    ("pilot", "Control pilot", "{{ value_json.pilot }}", None, None, None),
    ("session", "Session", "{{ value_json.session.state }}", None, None, None),
    ("grid_state", "Grid state", "{{ value_json.grid.state }}", None, None, None),
    ("operation_mode", "Operation mode", "{{ value_json.operation_mode }}", None, None, None),
)


def _node(client_id: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in client_id)


def _entity(
    ha_prefix: str, node: str, eid: int, component: str, obj: str, doc: dict[str, Any]
) -> tuple[str, bytes]:
    uid = f"{node}_evse{eid}_{obj}"
    full = {**doc, "unique_id": uid, "object_id": uid}
    topic = f"{ha_prefix}/{component}/{node}/evse{eid}_{obj}/config"
    return topic, json.dumps(full, separators=(",", ":")).encode()


def discovery_messages(
    topics: Topics, ha_prefix: str, client_id: str, snap: StationSnapshot
) -> list[tuple[str, bytes]]:
    node = _node(client_id)
    out: list[tuple[str, bytes]] = []
    for e in snap.evses:
        eid = e.evse_id
        state = topics.evse_status(eid)
        device = {"identifiers": [f"{node}_evse{eid}"], "name": f"{client_id} EVSE {eid}",
                  "manufacturer": "evse-stack", "sw_version": snap.firmware}
        base: dict[str, Any] = {"availability_topic": topics.online, "device": device}

        def add(component: str, obj: str, doc: dict[str, Any]) -> None:
            out.append(_entity(ha_prefix, node, eid, component, obj, {**base, **doc}))  # noqa: B023

        for obj, name, tmpl, unit, dclass, sclass in _SENSORS:
            doc: dict[str, Any] = {"name": name, "state_topic": state, "value_template": tmpl}
            if unit:
                doc |= {"unit_of_measurement": unit, "device_class": dclass,
                        "state_class": sclass}
            add("sensor", obj, doc)
        add("number", "setpoint", {
            "name": "External setpoint", "unit_of_measurement": "W", "mode": "box",
            "min": -e.rated_discharge_w, "max": e.rated_charge_w, "step": 100,
            "state_topic": state,
            "value_template": "{{ (value_json.ems or {}).get('setpoint_w') or 0 }}",
            "command_topic": topics.command(eid, "setpoint"),
            "command_template": '{"w": {{ value }}, "expires_in_s": 900}',
        })
        add("switch", "enabled", {
            "name": "Enabled", "state_topic": state,
            "value_template": "{{ 'ON' if value_json.enabled else 'OFF' }}",
            "command_topic": topics.command(eid, "enable"),
            "payload_on": '{"enabled": true}', "payload_off": '{"enabled": false}',
            "state_on": "ON", "state_off": "OFF",
        })
        if snap.ocpp == "none":
            add("switch", "charging", {
                "name": "Charging allowed", "state_topic": state,
                "value_template": "{{ 'ON' if value_json.allowed else 'OFF' }}",
                "command_topic": topics.command(eid, "charge"),
                "payload_on": '{"allowed": true}', "payload_off": '{"allowed": false}',
                "state_on": "ON", "state_off": "OFF",
            })
    return out
