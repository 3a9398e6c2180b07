"""hal reports -> OCPP station events: plug, unplug, faults, power path, energy flow."""

from __future__ import annotations

from evse.ocpp.interfaces import (
    ConnectorStatus,
    EnergyTransfer,
    EvPlugged,
    EvUnplugged,
    PowerPathClosed,
    PowerPathOpened,
)
from evse.station.hal_events import HalEventTranslator
from evse.station.hal_port import reading_from
from hal.protocol import Event, Measurement


def _cp(state: str) -> Event:
    return Event(1, "cp_state", {"state": state})


def _m(
    w: float, closed: bool = True, setpoint: float = 7000.0, energy_valid: bool = True
) -> Measurement:
    return Measurement(
        1, [230.0] * 3, 50.0, w, 0.0, setpoint, setpoint, 10.0, 2.0, "C", closed, energy_valid
    )


def test_g01_plug_charge_unplug_sequence_reports_occupied_and_available() -> None:
    t = HalEventTranslator()
    t.set_rating(1, 11000.0)  # flow threshold 110 W
    assert t.feed(_cp("A")) == []
    # G01: the connector's status follows the plug: Occupied on plug-in
    assert t.feed(_cp("B")) == [EvPlugged(1), ConnectorStatus(1, 1, "Occupied")]
    assert t.feed(_cp("C")) == []  # still plugged
    assert t.feed(Event(1, "contactor", {"closed": True})) == [PowerPathClosed(1)]
    assert t.feed(_m(100.0)) == []  # below 1 % of rating
    assert t.feed(_m(7000.0)) == [EnergyTransfer(1, True, "EV")]
    assert t.feed(_m(6990.0)) == []
    assert t.feed(_m(0.0)) == [EnergyTransfer(1, False, "EV")]  # EV stopped drawing
    assert t.feed(_m(5000.0)) == [EnergyTransfer(1, True, "EV")]
    assert t.feed(Event(1, "contactor", {"closed": False})) == [
        PowerPathOpened(1),
        EnergyTransfer(1, False, "EVSE"),
    ]
    assert t.feed(_cp("A")) == [EvUnplugged(1), ConnectorStatus(1, 1, "Available")]


def test_discharge_counts_as_energy_transfer() -> None:
    t = HalEventTranslator()
    assert t.feed(_m(-5000.0, setpoint=-5000.0)) == [EnergyTransfer(1, True, "EV")]


def test_error_states_map_to_connector_status() -> None:
    t = HalEventTranslator()
    assert t.feed(_cp("B")) == [EvPlugged(1), ConnectorStatus(1, 1, "Occupied")]
    assert t.feed(_cp("E")) == [ConnectorStatus(1, 1, "Faulted")]
    assert t.feed(_cp("B")) == [ConnectorStatus(1, 1, "Occupied")]
    assert t.feed(_cp("F")) == [ConnectorStatus(1, 1, "Unavailable")]
    assert t.feed(_cp("A")) == [EvUnplugged(1), ConnectorStatus(1, 1, "Available")]


def test_meter_reading_from_measurement() -> None:
    r = reading_from(_m(6900.0))
    assert r.total_w == 6900.0
    assert r.current_a[0] == 2300.0 / 230.0
    assert (r.import_wh, r.export_wh, r.frequency_hz) == (10.0, 2.0, 50.0)


def test_r05_der_alarm_events_become_der_alarms_stamped_on_arrival() -> None:
    from datetime import UTC, datetime

    from evse.ocpp.interfaces import DerAlarm

    t = datetime(2026, 3, 1, tzinfo=UTC)
    tr = HalEventTranslator(wall=lambda: t)
    data = {"controlType": "HFMustTrip", "gridEventFault": "OverFrequency", "extraInfo": "x"}
    assert tr.feed(Event(1, "der_alarm", data)) == [
        DerAlarm(1, "HFMustTrip", "OverFrequency", False, "x", t)
    ]
    assert tr.feed(Event(1, "der_alarm_ended", data)) == [
        DerAlarm(1, "HFMustTrip", "OverFrequency", True, "x", t)
    ]


def test_r05_der_alarm_carries_hals_event_time_and_welcome_alarms_in_force() -> None:
    from datetime import UTC, datetime

    from evse.ocpp.interfaces import DerAlarm, DerAlarmsInForce

    arrival = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)
    at = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    tr = HalEventTranslator(wall=lambda: arrival)
    data = {"controlType": "HFMustTrip", "gridEventFault": "OverFrequency",
            "timestamp": "2026-03-01T12:00:00.250Z"}  # fmt: skip
    live = DerAlarm(1, "LVMustTrip", "UnderVoltage", False, "", at)
    # hal's welcome to a (re)started evse: the alarm raised while it was down
    state = [{"evse_id": 1, "cp_state": "B", "contactor_closed": False, "faults": [],
              "alarms": [{"controlType": "LVMustTrip", "gridEventFault": "UnderVoltage",
                          "since": "2026-03-01T12:00:00.250Z"}]}]  # fmt: skip
    (snap,) = tr.sync_welcome(state, {1})
    assert snap.events[-1] == DerAlarmsInForce(1, (live,))
    assert tr.feed(Event(1, "der_alarm", data)) == [
        DerAlarm(1, "HFMustTrip", "OverFrequency", False, "", at)  # not the arrival time
    ]
    hf = DerAlarm(1, "HFMustTrip", "OverFrequency", False, "", at)
    assert tr.snapshot()[-1] == DerAlarmsInForce(1, (live, hf))  # for an OCPP side starting
    tr.feed(Event(1, "der_alarm_ended", data))
    assert tr.alarms_in_force() == [DerAlarmsInForce(1, (live,))]
    # An older hal says nothing about alarms: nothing to sync (nothing is ended).
    (old,) = tr.sync_welcome([state[0] | {"alarms": None}], {1})
    assert all(not isinstance(e, DerAlarmsInForce) for e in old.events)
