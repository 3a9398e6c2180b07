"""hal faults and hal's welcome state -> what OCPP shows (issue 9 "Faults must be seen",
issue 10 "State after restarts"); invalid energy registers never reach a meter value."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from evse.ocpp.interfaces import (
    ConnectorStatus,
    EvPlugged,
    EvUnplugged,
    PowerPathClosed,
    PowerPathOpened,
)
from evse.ocpp.meter_values import meter_value
from evse.station.hal_events import HalEventTranslator
from evse.station.hal_port import reading_from
from hal.protocol import (
    FAULT_CONTACTOR,
    FAULT_GRID_SAMPLE,
    FAULT_MCU_FLAGS,
    FAULT_RCD,
    FAULT_STAGE_STATUS,
    Event,
    Measurement,
)


def _cp(state: str) -> Event:
    return Event(1, "cp_state", {"state": state})


def _fault(device: str) -> Event:
    return Event(1, "fault", {"device": device, "reason": "test"})


def _cleared(device: str) -> Event:
    return Event(1, "fault_cleared", {"device": device})


def test_g01_hal_faults_show_faulted_until_every_fault_clears() -> None:
    for device in (FAULT_CONTACTOR, FAULT_RCD, FAULT_MCU_FLAGS, FAULT_STAGE_STATUS, "meter"):
        t = HalEventTranslator()
        t.feed(_cp("C"))
        assert t.feed(_fault(device)) == [ConnectorStatus(1, 1, "Faulted")], device
        assert t.feed(_cleared(device)) == [ConnectorStatus(1, 1, "Occupied")], device
    t = HalEventTranslator()
    t.feed(_cp("B"))
    t.feed(_fault(FAULT_RCD))
    assert t.feed(_fault("stage")) == []  # still Faulted
    assert t.feed(_cleared(FAULT_RCD)) == []  # the stage is still in fault
    assert t.feed(_cp("A")) == [EvUnplugged(1)]  # unplugged while faulted: still Faulted
    assert t.feed(_cleared("stage")) == [ConnectorStatus(1, 1, "Available")]


def test_missing_grid_sample_is_not_a_connector_fault() -> None:
    t = HalEventTranslator()
    t.feed(_cp("B"))
    assert t.feed(_fault(FAULT_GRID_SAMPLE)) == []
    assert t.feed(_cleared(FAULT_GRID_SAMPLE)) == []


def test_welcome_state_rebuilds_plug_contactor_faults_and_grid() -> None:
    t = HalEventTranslator()
    state = [
        {
            "evse_id": 1,
            "cp_state": "C",
            "contactor_closed": True,
            "faults": [],
            "grid": {"state": "normal", "p_min_w": -11000.0, "p_max_w": 11000.0, "q_var": 0.0},
        }
    ]
    (snap,) = t.sync_welcome(state, {1})
    assert snap.events == [EvPlugged(1), PowerPathClosed(1), ConnectorStatus(1, 1, "Occupied")]
    assert snap.constraint is not None and snap.constraint.p_max_w == 11000.0
    # The same state again (hal reconnect): told whole again, nothing lost or invented.
    (again,) = t.sync_welcome(state, {1})
    assert again.events == snap.events
    # A snapshot for an OCPP side that starts from nothing says the same.
    assert t.snapshot() == [EvPlugged(1), PowerPathClosed(1), ConnectorStatus(1, 1, "Occupied")]


def test_welcome_state_with_faults_and_unplugged() -> None:
    t = HalEventTranslator()
    state = [
        {
            "evse_id": 1,
            "cp_state": "A",
            "contactor_closed": False,
            "faults": [{"device": FAULT_CONTACTOR, "reason": "welded"}],
        },
        {"evse_id": 7, "cp_state": "C"},  # not an EVSE hal announced: ignored
        {"evse_id": "1", "cp_state": "C"},  # mistyped: ignored
    ]
    (snap,) = t.sync_welcome(state, {1})
    assert snap.events == [EvUnplugged(1), PowerPathOpened(1), ConnectorStatus(1, 1, "Faulted")]
    assert snap.constraint is None


def test_invalid_energy_registers_are_omitted_never_sent_as_zero() -> None:
    m = Measurement(1, [230.0] * 3, 50.0, 6900.0, 0.0, 7000.0, 7000.0, 0.0, 0.0, "C", True)
    assert not m.energy_valid  # hal has not read the meter since it started
    reading = reading_from(m)
    assert math.isnan(reading.import_wh)
    measurands = ["Energy.Active.Import.Register", "Energy.Active.Export.Register"]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert meter_value(reading, measurands, "Sample.Periodic", at) is None
    mv = meter_value(reading, [*measurands, "Power.Active.Import"], "Sample.Periodic", at)
    assert mv is not None
    assert [v["measurand"] for v in mv["sampledValue"]] == ["Power.Active.Import"]
    valid = reading_from(
        Measurement(1, [230.0] * 3, 50.0, 0.0, 0.0, 0.0, 0.0, 12.5, 0.0, "C", True, True)
    )
    mv = meter_value(valid, measurands[:1], "Sample.Periodic", at)
    assert mv is not None and mv["sampledValue"][0]["value"] == 12.5
