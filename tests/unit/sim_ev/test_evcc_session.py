"""Our EV's -20 session (evse/sim/ev/evcc.py) against a scripted SECC on a fake clock.

Requirement ids: ISO 15118-20 clause 8.8 (message sequence), [V2G20-1477] SessionStop
ServiceRenegotiation, EVSENotification handling (8.3.5.3.x: Pause, Terminate,
ServiceRenegotiation, ScheduleRenegotiation).
"""

from __future__ import annotations

from typing import Any

import pytest
from fake_secc import SID, FakeSecc, drive

from evse.iso15118.d20.rational import to_float
from evse.iso15118.exi._generated import common_types as cm
from evse.sim.ev.config import EvConfig, PowerStep
from evse.sim.ev.evcc import _phases_sum

COMMON = ["supportedAppProtocolReq", "SessionSetupReq", "AuthorizationSetupReq",
          "AuthorizationReq", "ServiceDiscoveryReq", "ServiceDetailReq", "ServiceSelectionReq"]


def cfg(**kw: Any) -> EvConfig:
    base: dict[str, Any] = dict(departure_s=20, loop_interval_s=1.0)
    base.update(kw)
    return EvConfig(**base)


def test_ac_dynamic_follows_the_secc_target_and_integrates_soc_from_its_present_power(
) -> None:
    secc = FakeSecc(target_w=7000.0, present_w=6000.0)
    ev, done = drive(cfg(service="AC", control_mode="Dynamic", soc_start=30.0), secc)
    assert done.outcome == "terminated" and done.reason == "departure time"
    loops = [r for n, r in secc.requests if n == "AC_ChargeLoopReq"]
    assert len(loops) >= 10
    # The first request has drawn nothing; every later one reports the SECC's target.
    # -20 AC values are per phase (the plain field is L1): 3 phases, a third on each.
    modes = [r.Dynamic_AC_CLReqControlMode for r in loops]
    assert all(m.EVPresentActivePower_L3 is not None for m in modes)
    reported = [_phases_sum(m, "EVPresentActivePower") for m in modes]
    assert reported[0] == 0 and all(abs(x - 7000.0) < 1.0 for x in reported[1:])
    # SOC comes from the present power the SECC reports (6 kW), not from the target.
    dt = [b.t_s - a.t_s for a, b in zip(ev.loops, ev.loops[1:], strict=False)]
    energy = sum(6000.0 * d / 3600.0 for d in dt) + 6000.0 * ev.loops[0].t_s / 3600.0
    assert ev.battery.energy_in_wh == pytest.approx(energy, rel=0.05)
    assert ev.battery.soc == pytest.approx(30.0 + 100 * ev.battery.energy_in_wh / 60000.0)


@pytest.mark.parametrize("mode", ["Scheduled", "Dynamic"])
@pytest.mark.parametrize("service", ["AC", "AC_BPT", "DC", "DC_BPT"])
def test_message_sequence_per_service_and_mode(service: str, mode: str) -> None:
    secc = FakeSecc()
    ev, done = drive(cfg(service=service, control_mode=mode), secc)
    assert done.outcome == "terminated", done.reason
    prefix = "DC_" if service.startswith("DC") else "AC_"
    middle = [f"{prefix}ChargeParameterDiscoveryReq", "ScheduleExchangeReq"]
    if prefix == "DC_":  # cable check 2x Ongoing then Finished; precharge Ongoing, Finished
        middle += ["DC_CableCheckReq"] * 3 + ["DC_PreChargeReq"] * 2
    assert ev.sent[: len(COMMON) + len(middle) + 1] == [*COMMON, *middle, "PowerDeliveryReq"]
    tail = ["PowerDeliveryReq", "SessionStopReq"]
    if prefix == "DC_":
        tail = ["PowerDeliveryReq", "DC_WeldingDetectionReq", "DC_WeldingDetectionReq",
                "SessionStopReq"]
    assert ev.sent[-len(tail):] == tail
    assert ev.sent.count(f"{prefix}ChargeLoopReq") >= 10
    selected = next(r for n, r in secc.requests if n == "ServiceSelectionReq")
    assert selected.SelectedEnergyTransferService.ParameterSetID == (
        11 if mode == "Scheduled" else 12)  # the set with the wanted ControlMode
    stop = [r for n, r in secc.requests if n == "SessionStopReq"][-1]
    assert stop.ChargingSession == "Terminate"


def test_ac_bpt_scheduled_discharges_when_the_script_says_so() -> None:
    secc = FakeSecc(present_w=None)  # no present power: the EV counts what it applied
    script = (PowerStep(0.0, -6000.0),)
    ev, done = drive(cfg(service="AC_BPT", control_mode="Scheduled", script=script), secc)
    assert done.outcome == "terminated"
    start = next(r for n, r in secc.requests if n == "PowerDeliveryReq")
    assert start.ChargeProgress == "Start" and start.BPT_ChannelSelection == "Discharge"
    assert start.EVPowerProfile.Scheduled_EVPPTControlMode.SelectedScheduleTupleID == 7
    # Limited by the discharging schedule of the chosen tuple (4 kW).
    assert {rec.present_w for rec in ev.loops[1:]} == {-4000.0}
    assert ev.battery.energy_out_wh > 0 and ev.battery.energy_in_wh == 0
    assert ev.battery.soc < 30.0


def test_dc_bpt_dynamic_discharge_from_the_secc_present_current() -> None:
    secc = FakeSecc(target_w=-10000.0)
    ev, done = drive(cfg(service="DC_BPT", control_mode="Dynamic"), secc)
    assert done.outcome == "terminated"
    assert all(rec.present_w == pytest.approx(-10000.0) for rec in ev.loops)
    assert ev.battery.energy_out_wh > 0 and ev.battery.soc < 30.0


def test_non_bpt_service_never_asks_to_discharge() -> None:
    secc = FakeSecc(present_w=None)
    script = (PowerStep(0.0, -6000.0),)
    ev, _ = drive(cfg(service="AC", control_mode="Scheduled", script=script), secc)
    assert ev.battery.energy_out_wh == 0
    start = next(r for n, r in secc.requests if n == "PowerDeliveryReq")
    assert start.BPT_ChannelSelection is None


@pytest.mark.parametrize(("note", "outcome", "kind"), [
    ("Pause", "paused", "Pause"), ("Terminate", "terminated", "Terminate")])
def test_evse_notification_pause_or_terminate_stops_power_then_the_session(
        note: str, outcome: str, kind: str) -> None:
    secc = FakeSecc(notification_at_loop={3: note})
    ev, done = drive(cfg(service="AC", control_mode="Dynamic"), secc)
    assert done.outcome == outcome
    assert ev.sent.count("AC_ChargeLoopReq") == 3
    assert ev.sent[-2:] == ["PowerDeliveryReq", "SessionStopReq"]
    assert secc.requests[-2][1].ChargeProgress == "Stop"
    assert secc.requests[-1][1].ChargingSession == kind


def test_evse_notification_service_renegotiation_goes_back_to_service_discovery() -> None:
    # [V2G20-1477]: after SessionStop(ServiceRenegotiation) the session continues with
    # ServiceDiscoveryReq on the same connection.
    secc = FakeSecc(notification_at_loop={2: "ServiceRenegotiation"})
    ev, done = drive(cfg(service="DC", control_mode="Dynamic"), secc)
    assert done.outcome == "terminated"
    i = ev.sent.index("SessionStopReq")
    assert secc.requests[i][1].ChargingSession == "ServiceRenegotiation"
    assert ev.sent[i - 3: i] == ["PowerDeliveryReq", "DC_WeldingDetectionReq",
                                 "DC_WeldingDetectionReq"]
    assert ev.sent[i + 1: i + 5] == ["ServiceDiscoveryReq", "ServiceDetailReq",
                                     "ServiceSelectionReq", "DC_ChargeParameterDiscoveryReq"]
    # The second round checks the cable again (the fake SECC finishes it at once then).
    assert ev.sent.count("DC_CableCheckReq") == 4


def test_evse_notification_schedule_renegotiation_exchanges_schedules_again() -> None:
    secc = FakeSecc(notification_at_loop={2: "ScheduleRenegotiation"})
    ev, done = drive(cfg(service="AC", control_mode="Scheduled"), secc)
    assert done.outcome == "terminated"
    i = ev.sent.index("AC_ChargeLoopReq") + 2
    assert ev.sent[i: i + 3] == ["PowerDeliveryReq", "ScheduleExchangeReq", "PowerDeliveryReq"]
    assert secc.requests[i][1].ChargeProgress == "ScheduleRenegotiation"


def test_script_pause_ends_with_session_stop_pause() -> None:
    ev, done = drive(cfg(service="AC_BPT", control_mode="Dynamic", pause_at_s=5.0),
                     FakeSecc())
    assert done.outcome == "paused" and done.reason == "script: pause"
    assert ev.pause_done


def test_resume_with_the_old_session_id_goes_straight_to_charge_parameter_discovery() -> None:
    secc = FakeSecc(session_code="OK_OldSessionJoined")
    ev, done = drive(cfg(service="AC", control_mode="Dynamic"), secc, resume_id=SID)
    assert done.outcome == "terminated" and ev.resumed
    assert secc.requests[1][1].Header.SessionID == SID
    assert ev.sent[:3] == ["supportedAppProtocolReq", "SessionSetupReq",
                           "AC_ChargeParameterDiscoveryReq"]


def test_resume_answered_with_a_new_session_runs_the_whole_sequence() -> None:
    ev, done = drive(cfg(service="AC", control_mode="Dynamic"), FakeSecc(), resume_id=SID)
    assert done.outcome == "terminated" and not ev.resumed
    assert ev.sent[:3] == COMMON[:3]


def test_target_soc_reached_ends_charging() -> None:
    ev, done = drive(cfg(service="AC", control_mode="Dynamic", soc_start=79.9,
                         departure_s=3600), FakeSecc(target_w=11000, present_w=11000))
    assert done.outcome == "terminated" and done.reason == "target SOC reached"
    assert ev.battery.soc >= 80.0


def test_service_not_offered_stops_the_session() -> None:
    ev, done = drive(cfg(service="DC_BPT"), FakeSecc(services=(1, 5)))
    assert done.outcome == "failed" and "not offered" in done.reason
    assert ev.sent[-1] == "SessionStopReq"


def test_bpt_car_charges_only_when_the_station_offers_no_bpt() -> None:
    # A station without V2X (free vend, or OCPP Q01 not allowing it) offers DC only.
    secc = FakeSecc(services=(1, 2))
    ev, done = drive(cfg(service="DC_BPT", control_mode="Dynamic",
                         script=(PowerStep(0.0, -5000.0),)), secc)
    assert done.outcome == "terminated", done.reason
    assert ev.cfg.service == "DC" and not ev.cfg.bpt
    selected = [r for n, r in secc.requests if n == "ServiceSelectionReq"]
    assert selected[0].SelectedEnergyTransferService.ServiceID == 2


def test_unexpected_response_is_a_sequence_failure() -> None:
    secc = FakeSecc()
    secc.overrides["ServiceDetailReq"] = lambda req, n: (
        "ServiceSelectionRes", cm.ServiceSelectionResType(Header=fake_header(), ResponseCode="OK"))
    _, done = drive(cfg(), secc)
    assert done.outcome == "failed" and "sequence" in done.reason


def test_failed_response_code_ends_the_session() -> None:
    secc = FakeSecc()
    secc.overrides["ServiceSelectionReq"] = lambda req, n: (
        "ServiceSelectionRes", cm.ServiceSelectionResType(
            Header=fake_header(), ResponseCode="FAILED_ServiceSelectionInvalid"))
    ev, done = drive(cfg(), secc)
    assert done == type(done)("failed", "ServiceSelectionRes: FAILED_ServiceSelectionInvalid")
    assert ev.sent[-1] == "ServiceSelectionReq"  # no SessionStop: the SECC closes


def test_authorization_ongoing_is_bounded() -> None:
    secc = FakeSecc()
    secc.overrides["AuthorizationReq"] = lambda req, n: (
        "AuthorizationRes", cm.AuthorizationResType(Header=fake_header(), ResponseCode="OK",
                                                    EVSEProcessing="Ongoing"))
    ev, done = drive(cfg(), secc, max_steps=5000)
    assert done.outcome == "failed" and "Ongoing" in done.reason
    assert 180 / 0.27 < ev.sent.count("AuthorizationReq") < 180 / 0.25 + 5
    assert ev.sent[-1] == "SessionStopReq"


def test_timeouts_follow_the_ev_side_values_scaled_by_config() -> None:
    from evse.sim.ev.battery import Battery
    from evse.sim.ev.evcc import Evcc

    ev = Evcc(cfg(timeout_scale=2.0), Battery(60000.0, 30.0), t0=0.0)
    first = ev.start(0.0)
    assert first.timeout_s == 4.0
    assert ev.on_timeout(5.0).outcome == "failed"


def fake_header() -> Any:
    from fake_secc import H
    return H


def test_dc_bpt_scheduled_discharge_asks_for_a_negative_current() -> None:
    """Scheduled DC: the EV asks for a current; discharging is a negative EVTargetCurrent
    (our sign: + into the car), limited by its maximum discharge current."""
    script = (PowerStep(0.0, -50000.0),)
    secc = FakeSecc()
    _, done = drive(cfg(service="DC_BPT", control_mode="Scheduled", script=script,
                         max_discharge_w=50000.0, max_discharge_a=40.0), secc)
    assert done.outcome == "terminated"
    loops = [r for n, r in secc.requests if n == "DC_ChargeLoopReq"]
    currents = {to_float(r.BPT_Scheduled_DC_CLReqControlMode.EVTargetCurrent) for r in loops}
    assert currents == {-40.0}
    start = next(r for n, r in secc.requests if n == "PowerDeliveryReq")
    assert start.BPT_ChannelSelection == "Discharge"


@pytest.mark.parametrize(("script_w", "plan_w"), [(11000.0, 5000.0), (-6000.0, -4000.0)])
def test_scheduled_power_profile_stays_inside_the_chosen_schedule(script_w: float,
                                                                 plan_w: float) -> None:
    """PowerDelivery(Start)'s EVPowerProfile above the schedule the SECC offered is an
    EVPowerProfile violation: the plan is capped by the tuple (5 kW charge, 4 kW
    discharge in the fake SECC). Found against our own SECC on a trial merge."""
    secc = FakeSecc()
    drive(cfg(service="AC_BPT", control_mode="Scheduled", script=(PowerStep(0, script_w),)),
          secc)
    start = next(r for n, r in secc.requests if n == "PowerDeliveryReq")
    (entry,) = start.EVPowerProfile.EVPowerProfileEntries.EVPowerProfileEntry
    assert to_float(entry.Power) == plan_w
