"""Status out (evse/api/status.py, status_gate.py, outbox.py, topics.py, ems_inputs.py):
everything issue 14 lists per EVSE and per station, published at once on a discrete
change, measured values at most every status_min_interval_s, everything at least every
status_period_s; a bounded outbox where the newest status per topic wins; EMS inputs
that expire (the energy manager then falls back as if the EMS had gone)."""

from __future__ import annotations

import json
from dataclasses import replace

from evse.api.discovery import discovery_messages
from evse.api.ems_inputs import EmsInputs
from evse.api.outbox import Outbox, Outgoing
from evse.api.status import EmsState, EvseSnapshot, StationSnapshot, evse_status, station_status
from evse.api.status_gate import StatusGate
from evse.api.topics import Topics, check_prefix
from evse.energy.manager import EnergyInputs, EvLimits, decide
from evse.energy.operation_modes import EmsInput
from evse.station.ev_status import EvSessionStatus

EVSE = EvseSnapshot(
    evse_id=1, rated_charge_w=11000.0, rated_discharge_w=11000.0, enabled=True,
    allowed=True, cp_state="C", contactor_closed=True, plugged=True, active_w=6999.6,
    reactive_var=-0.2, setpoint_w=7000.0, import_wh=1234.4, export_wh=10.0,
    energy_valid=True, operation_mode="ExternalSetpoint", mode_source="csms",
    grid_state="normal", p_min_w=-11000.0, p_max_w=11000.0, q_var=0.0,
    alarms=(("HFMustTrip", "OverFrequency"),), faults=(),
    ems=EmsState(7000.0, None, None, 42.0),
)
STATION = StationSnapshot("connected", "0.1.0", 12.3, (EVSE,), (("c1", "FreqDroop"),))


def test_evse_status_holds_every_field_the_issue_lists() -> None:
    doc = json.loads(evse_status("t", EVSE).payload)
    assert doc["pilot"] == "C" and doc["contactor"] == "closed"
    assert doc["session"] == {"kind": "basic", "state": "charging"}
    assert doc["active_w"] == 7000.0 and doc["reactive_var"] == 0.0
    assert doc["energy"] == {"import_wh": 1234.0, "export_wh": 10.0, "valid": True}
    assert doc["ev"]["soc_pct"] is None and doc["ev"]["max_charge_w"] == 11000.0
    assert doc["operation_mode"] == "ExternalSetpoint" and doc["mode_source"] == "csms"
    assert doc["grid"] == {"state": "normal", "p_min_w": -11000.0, "p_max_w": 11000.0,
                           "q_var": 0.0}
    assert doc["der_alarms"] == [{"controlType": "HFMustTrip", "gridEventFault": "OverFrequency"}]
    assert doc["ems"] == {"setpoint_w": 7000.0, "min_w": None, "max_w": None,
                          "expires_in_s": 42.0}
    st = json.loads(station_status("s", STATION).payload)
    assert st == {"ocpp": "connected", "firmware": "0.1.0", "uptime_s": 12, "evses": [1],
                  "der_controls": [{"id": "c1", "controlType": "FreqDroop"}]}


def test_session_state_follows_pilot_contactor_and_power() -> None:
    def state(**kw: object) -> str:
        return str(json.loads(evse_status("t", replace(EVSE, **kw)).payload)["session"]["state"])

    assert state(active_w=-3000.0) == "discharging"
    assert state(active_w=0.0) == "energized"
    assert state(contactor_closed=False, active_w=0.0) == "plugged"
    assert state(contactor_closed=False, allowed=False) == "waiting_for_authorization"
    assert state(plugged=False, cp_state="A", contactor_closed=False) == "unplugged"
    assert state(enabled=False) == "disabled"
    assert state(cp_state=None) == "unknown"


def test_gate_discrete_at_once_measured_at_most_every_interval_all_every_period() -> None:
    g = StatusGate(period_s=30.0, min_interval_s=1.0)
    p0 = evse_status("t", EVSE)
    assert g.due(p0, 0.0) and not g.due(p0, 0.1)
    moved = evse_status("t", replace(EVSE, active_w=6500.0))
    assert not g.due(moved, 0.5)  # measured only: waits for the interval
    assert g.due(moved, 1.0)
    tripped = evse_status("t", replace(EVSE, active_w=6500.0, grid_state="tripped"))
    assert g.due(tripped, 1.1)  # discrete: at once
    assert not g.due(tripped, 20.0) and g.due(tripped, 31.1)  # unchanged: the period
    g.reset()
    assert g.due(tripped, 31.2)  # after a reconnect: everything again


def test_outbox_newest_status_per_topic_wins_and_replies_are_bounded() -> None:
    box = Outbox(max_replies=3)
    for i in range(1000):
        box.put_status("a", str(i).encode())
        box.put_status("b", b"x")
    for i in range(5):
        box.put_reply(Outgoing("r", str(i).encode(), False))
    assert len(box) == 5 and box.dropped == 2
    popped = [box.pop() for _ in range(6)]
    assert [(o.topic, o.payload) for o in popped if o] == [
        ("a", b"999"), ("b", b"x"), ("r", b"2"), ("r", b"3"), ("r", b"4")]
    assert popped[-1] is None


def test_ems_input_expires_and_the_energy_manager_falls_back() -> None:
    ems = EmsInputs()
    ems.set(1, EmsInput(setpoint_w=-4000.0), now=100.0, expires_in_s=10.0)
    period = {"chargingRateUnit": "W", "operationMode": "ExternalSetpoint", "setpoint": 2000.0}

    def request_w(now: float) -> float:
        inp = EnergyInputs(1, period, EvLimits(11000.0, 11000.0), now, may_discharge=True,  # type: ignore[arg-type]
                           ems=ems.ems_input(1, now))
        return decide(inp).request.setpoint_w

    assert request_w(109.9) == -4000.0  # Q05: the EMS's setpoint
    assert ems.expires_in(1, 105.0) == 5.0
    assert request_w(110.0) == 2000.0  # expired: the period's own setpoint again
    assert ems.ems_input(1, 105.0) is None  # gone for good, not back in the past


def test_topic_map_and_prefix_rules() -> None:
    t = Topics("home/evse")
    assert t.evse_status(2) == "home/evse/evse/2/status" and t.online == "home/evse/online"
    assert t.command_filter == "home/evse/evse/+/set/+"
    pc = t.parse_command("home/evse/evse/2/set/setpoint")
    assert pc is not None and (pc.evse_id, pc.name) == (2, "setpoint")
    assert t.parse_command("home/evse/evse/2/status") is None
    for bad in ("", "a/+", "a/#", "/a", "a/", "a//b", "$SYS"):
        assert check_prefix(bad) is not None, bad
    assert check_prefix("home/evse") is None


def test_home_assistant_discovery_points_at_the_status_and_command_topics() -> None:
    msgs = dict(discovery_messages(Topics("evse"), "homeassistant", "evse-sim",
                                   replace(STATION, ocpp="none")))
    number = json.loads(msgs["homeassistant/number/evse-sim/evse1_setpoint/config"])
    assert number["command_topic"] == "evse/evse/1/set/setpoint"
    assert number["state_topic"] == "evse/evse/1/status"
    assert number["availability_topic"] == "evse/online" and number["min"] == -11000.0
    assert "homeassistant/switch/evse-sim/evse1_charging/config" in msgs
    assert "homeassistant/sensor/evse-sim/evse1_active_power/config" in msgs


def test_evse_status_carries_the_cars_iso15118_session() -> None:
    """Issue 12: per EVSE, while a -20 session runs: SOC, target SOC, departure, the EV's
    max charge / discharge power, service, control mode and session stage."""
    doc = json.loads(evse_status("t", EVSE).payload)
    assert doc["ev"] == {"soc_pct": None, "target_soc_pct": None, "min_soc_pct": None,
                         "departure": None, "max_charge_w": 11000.0,
                         "max_discharge_w": 11000.0, "limits_source": "unit",
                         "service": None, "control_mode": None, "stage": "none"}
    ev = EvSessionStatus(stage="charge_loop", service="DC_BPT", control_mode="Scheduled",
                         soc_pct=57, target_soc_pct=80, min_soc_pct=20,
                         departure_epoch_s=1_796_000_000.0, max_charge_w=50000.0,
                         max_discharge_w=10000.0)
    status = evse_status("t", replace(EVSE, ev=ev))
    doc = json.loads(status.payload)
    assert doc["ev"] == {"soc_pct": 57, "target_soc_pct": 80, "min_soc_pct": 20,
                         "departure": "2026-11-30T00:53:20Z", "max_charge_w": 50000.0,
                         "max_discharge_w": 10000.0, "limits_source": "ev",
                         "service": "DC_BPT", "control_mode": "Scheduled",
                         "stage": "charge_loop"}
    # A new SOC is a discrete change: published at once, not held back like power.
    moved = evse_status("t", replace(EVSE, ev=replace(ev, soc_pct=58)))
    assert moved.discrete != status.discrete and moved.measured == status.measured
