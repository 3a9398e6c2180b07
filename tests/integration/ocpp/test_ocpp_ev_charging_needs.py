"""NotifyEVChargingNeeds (OCPP 2.1 K15/K17, Q01/Q02) from a real OcppStation (SQLite on
disk) to the scripted CSMS: the SECC's plain EvNeeds becomes a schema-valid message with
the V2X parameters carried; `notify_ev_charging_needs` returns at once (the message
waits for the CSMS when it is away) and the CSMS's answer is recorded for the station;
bad input is refused at the call, with the reason, and nothing is sent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp_support import PASSWORD, eventually
from test_ocpp_smart_charging import station_on

from evse.ocpp.schemas import OcppVersion, SchemaSet
from evse.ocpp.versions import adapt
from evse.sim.csms import ScriptedCsms
from evse.station.ev_needs import DcParameters, EvNeeds, V2xParameters

DEPART = datetime(2026, 12, 2, 18, 30, tzinfo=UTC)
SEEN = datetime(2026, 12, 2, 12, 0, 5, tzinfo=UTC)
NEEDS = EvNeeds(
    requested_energy_transfer="DC_BPT",
    available_energy_transfer=("DC", "DC_BPT"),
    control_mode="DynamicControl",
    mobility_needs_mode="EVCC_SECC",
    departure_time=DEPART,
    dc_charging_parameters=DcParameters(
        ev_max_current_a=200.0, ev_max_voltage_v=450.0, ev_max_power_w=50000.0,
        ev_energy_capacity_wh=60000.0, state_of_charge=40, full_soc=100, bulk_soc=80,
    ),
    v2x_charging_parameters=V2xParameters(
        min_charge_power_w=0.0, max_charge_power_w=11000.0, max_discharge_power_w=10000.0,
        max_discharge_power_l2_w=3300.0, min_voltage_v=300.0, max_voltage_v=450.0,
        ev_target_energy_request_wh=30000.0, ev_min_v2x_energy_request_wh=-10000.0,
        ev_max_v2x_energy_request_wh=36000.0, target_soc=80,
    ),
    max_schedule_tuples=24,
    received_at=SEEN,
)  # fmt: skip
EXPECTED: dict[str, Any] = {
    "evseId": 1,
    "maxScheduleTuples": 24,
    "timestamp": "2026-12-02T12:00:05.000Z",  # when the EV said it, not the send
    "chargingNeeds": {
        "requestedEnergyTransfer": "DC_BPT",
        "availableEnergyTransfer": ["DC", "DC_BPT"],
        "controlMode": "DynamicControl",
        "mobilityNeedsMode": "EVCC_SECC",
        "departureTime": "2026-12-02T18:30:00.000Z",
        "dcChargingParameters": {
            "evMaxCurrent": 200.0, "evMaxVoltage": 450.0, "evMaxPower": 50000.0,
            "evEnergyCapacity": 60000.0, "stateOfCharge": 40, "fullSoC": 100, "bulkSoC": 80,
        },
        "v2xChargingParameters": {
            "minChargePower": 0.0, "maxChargePower": 11000.0, "maxDischargePower": 10000.0,
            "maxDischargePower_L2": 3300.0, "minVoltage": 300.0, "maxVoltage": 450.0,
            "evTargetEnergyRequest": 30000.0, "evMinV2XEnergyRequest": -10000.0,
            "evMaxV2XEnergyRequest": 36000.0, "targetSoC": 80,
        },
    },
}  # fmt: skip


def test_k15_q01_notify_ev_charging_needs_v2x_parameters_and_answer_recorded(
    tmp_path: Path,
) -> None:
    answers = iter(
        [
            {"status": "Processing"},
            {"status": "NoChargingProfile", "statusInfo": {"reasonCode": "NoProfile"}},
        ]
    )

    async def scenario() -> None:
        csms = ScriptedCsms({"NotifyEVChargingNeeds": lambda _: next(answers)},
                            passwords={"CS001": PASSWORD})  # fmt: skip
        async with csms, station_on(csms, tmp_path / "evse.db") as station:
            needs = station.smart.needs
            station.notify_ev_charging_needs(1, NEEDS)  # returns at once: not awaited
            assert needs.answer(1) is None and needs.pending(1)
            await eventually(lambda: needs.answer(1) is not None)
            answer = needs.answer(1)
            assert answer is not None and answer.status == "Processing"
            (sent,) = csms.of("NotifyEVChargingNeeds")
            assert sent == EXPECTED
            schemas = SchemaSet(OcppVersion.V21)
            assert schemas.check("NotifyEVChargingNeeds", "Request", sent) is None
            # Newer needs (the EV changed its mind): a new answer replaces the old one.
            later = EvNeeds("DC", dc_charging_parameters=DcParameters(125.0, 400.0))
            station.notify_ev_charging_needs(1, later)
            assert needs.answer(1) is None
            await eventually(lambda: needs.answer(1) is not None)
            answer = needs.answer(1)
            assert answer is not None
            assert (answer.status, answer.reason) == ("NoChargingProfile", "NoProfile")
            second = csms.of("NotifyEVChargingNeeds")[1]
            assert second["chargingNeeds"] == {
                "requestedEnergyTransfer": "DC",
                "dcChargingParameters": {"evMaxCurrent": 125.0, "evMaxVoltage": 400.0},
            }
            # Bad input: a clear error at the call, nothing queued or sent.
            with pytest.raises(ValueError, match="targetSoC"):
                bad = V2xParameters(target_soc=150)
                station.notify_ev_charging_needs(1, EvNeeds("DC_BPT", v2x_charging_parameters=bad))
            with pytest.raises(ValueError, match="unknown EVSE 7"):
                station.notify_ev_charging_needs(7, later)
            with pytest.raises(ValueError, match="requestedEnergyTransfer"):
                station.notify_ev_charging_needs(1, EvNeeds("DC_FAST"))
            assert not needs.pending(1) and len(csms.of("NotifyEVChargingNeeds")) == 2
            assert csms.errors_sent == []

    asyncio.run(scenario())


def test_k15_needs_given_while_the_csms_is_away_are_sent_when_it_is_back(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        accept = {"NotifyEVChargingNeeds": lambda _: {"status": "Accepted"}}
        csms = ScriptedCsms(accept, passwords={"CS001": PASSWORD})
        await csms.start()
        port = csms.port
        try:
            async with station_on(csms, tmp_path / "evse.db") as station:
                await csms.stop()
                await eventually(lambda: not station.online)
                station.notify_ev_charging_needs(1, NEEDS)  # offline: kept, not lost
                await asyncio.sleep(0.5)
                assert station.smart.needs.pending(1)
                await csms.start(port=port)
                await eventually(lambda: station.smart.needs.answer(1) is not None,
                                 seconds=timedelta(minutes=1).total_seconds())  # fmt: skip
                answer = station.smart.needs.answer(1)
                assert answer is not None and answer.status == "Accepted"
                assert csms.of("NotifyEVChargingNeeds")[-1] == EXPECTED
        finally:
            await csms.stop()

    asyncio.run(scenario())


def test_k15_needs_adapted_for_ocpp_2_0_1() -> None:
    """2.0.1 has no timestamp, no V2X parameters, no BPT modes: the message is cut to what
    its schema knows (a 2.0.1 CSMS still learns the EV's DC limits)."""
    out = adapt(OcppVersion.V201, "NotifyEVChargingNeeds", EXPECTED)
    assert out["chargingNeeds"] == {
        "requestedEnergyTransfer": "DC",
        "departureTime": EXPECTED["chargingNeeds"]["departureTime"],
        "dcChargingParameters": EXPECTED["chargingNeeds"]["dcChargingParameters"],
    }
    assert "timestamp" not in out
    assert SchemaSet(OcppVersion.V201).check("NotifyEVChargingNeeds", "Request", out) is None
