"""The car's -20 needs reach OCPP NotifyEVChargingNeeds (K15 2.1, Q01.FR.03): the SECC's
EvNeeds action becomes a request valid against the 2.1 schema, with the V2X parameters."""

from __future__ import annotations

from datetime import UTC, datetime

from evse.iso15118.d20.types import EvLimitsKnown
from evse.iso15118.d20.types import EvNeeds as IsoNeeds
from evse.ocpp.ev_charging_needs import request_payload
from evse.station.ev_needs_from_iso import ocpp_needs

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def test_ac_bpt_dynamic_needs_become_a_valid_notify_ev_charging_needs() -> None:
    iso = IsoNeeds(
        service="AC_BPT",
        control_mode="Dynamic",
        limits=EvLimitsKnown(max_charge_w=11000.0, max_discharge_w=7400.0, min_charge_w=1400.0),
        departure_time_s=3600,
        target_energy_wh=20000.0,
        target_soc=80,
    )
    needs = ocpp_needs(iso, ("AC", "AC_BPT"), 3, NOW)
    payload = request_payload(1, needs, NOW)  # raises ValueError if the schema refuses it
    cn = payload["chargingNeeds"]
    assert cn["requestedEnergyTransfer"] == "AC_BPT"
    assert cn["availableEnergyTransfer"] == ["AC_three_phase", "AC_BPT"]
    assert cn["controlMode"] == "DynamicControl"
    v2x = cn["v2xChargingParameters"]
    assert v2x["maxChargePower"] == 11000.0 and v2x["maxDischargePower"] == 7400.0
    assert v2x["targetSoC"] == 80
    assert cn["departureTime"].startswith("2026-12-02T04:00:00")


def test_single_phase_ac_is_reported_as_such() -> None:
    iso = IsoNeeds(service="AC", control_mode="Scheduled", limits=EvLimitsKnown(3700.0))
    needs = ocpp_needs(iso, ("AC",), 1, NOW)
    assert needs.requested_energy_transfer == "AC_single_phase"
    request_payload(2, needs, NOW)


def test_two_phase_ac_is_reported_as_such() -> None:
    # EnergyTransferModeEnumType has AC_two_phase: a 2-phase unit is not three-phase.
    iso = IsoNeeds(service="AC", control_mode="Dynamic", limits=EvLimitsKnown(7400.0))
    needs = ocpp_needs(iso, ("AC",), 2, NOW)
    assert needs.requested_energy_transfer == "AC_two_phase"
    request_payload(2, needs, NOW)
