"""The pilot / session coordinator (evse/station/coordinator.py) with a fake clock:
every transition, the IEC 61851-1 Annex A duty values, ISO 15118-3 retries through
state F, E/F during matching, and unplug mid-session."""

from __future__ import annotations

import pytest

from evse.slac.events import LinkDown, LinkUp, MatchDropped, Matched, MatchFailed
from evse.station.coordinator import (
    Coordinator,
    CoordinatorConfig,
    Phase,
    PowerGate,
    SetDuty,
    StartSecc,
    StartSlac,
    StopSecc,
    StopSlac,
)
from evse.station.pilot_duty import current_for_power, duty_for_current

MATCH = Matched(b"\x02" * 6, b"\x01" * 7, b"\x00" * 16, b"\x03" * 8)


def _iso(c: Coordinator, t: float = 0.0) -> None:
    c.on_pilot("B", t)
    c.on_slac(MATCH, t)
    assert c.on_slac(LinkUp(), t) == [StartSecc()]


def test_b_with_5_percent_starts_slac_and_link_up_starts_the_secc_iso15118_3() -> None:
    c = Coordinator(CoordinatorConfig())
    assert c.duty_pct == 5.0 and c.session == "none"
    assert c.on_pilot("B", 0.0) == [StartSlac()]  # already at 5 %: no duty change
    assert c.phase is Phase.MATCHING
    assert c.on_slac(MATCH, 1.0) == [] and c.phase is Phase.MATCHED
    assert c.on_slac(LinkUp(), 1.5) == [StartSecc()]
    assert c.session == "iso15118" and not c.gate


def test_iso_contactor_closes_only_after_powerdelivery_start_iso15118_20() -> None:
    c = Coordinator(CoordinatorConfig())
    _iso(c)
    assert c.on_pilot("C", 2.0) == []  # C alone does not close in an ISO session
    assert c.on_energy_transfer(True, 3.0) == [PowerGate(True, "ISO 15118 PowerDelivery Start")]
    assert c.on_energy_transfer(False, 9.0)[0] == PowerGate(False, "ISO 15118 PowerDelivery Stop")
    assert c.on_energy_transfer(True, 10.0)[0].on  # type: ignore[union-attr]
    out = c.on_secc_ended("terminate", 11.0)
    assert out == [PowerGate(False, "ISO 15118 session ended: terminate")]


def test_energy_transfer_outside_a_session_is_ignored() -> None:
    c = Coordinator(CoordinatorConfig())
    c.on_pilot("C", 0.0)
    assert c.on_energy_transfer(True, 1.0) == [] and not c.gate


def test_no_match_in_time_retries_through_state_f_then_matches_iso15118_3() -> None:
    c = Coordinator(CoordinatorConfig(match_timeout_s=50.0, retries=1, ef_step_s=4.0))
    c.on_pilot("B", 0.0)
    assert c.tick(49.9) == []
    out = c.tick(50.0)
    assert StopSlac("no data link within the match timeout") in out
    assert out[-1] == SetDuty(0.0) and c.phase is Phase.RETRY_F  # state F (T_step_EF)
    assert c.on_pilot("F", 50.1) == []  # our own F step is no fault
    assert c.tick(53.9) == []
    assert c.tick(54.0) == [SetDuty(5.0), StartSlac()]
    c.on_pilot("B", 54.1)
    c.on_slac(MATCH, 55.0)
    assert c.on_slac(LinkUp(), 55.0) == [StartSecc()]


def test_match_failed_after_the_retries_falls_back_to_basic_charging_iec61851_1() -> None:
    c = Coordinator(CoordinatorConfig(retries=1))
    c.on_current(16.0, 0.0)
    c.on_pilot("B", 0.0)
    c.on_slac(MatchFailed("TT_EVSE_SLAC_init expired"), 1.0)
    assert c.phase is Phase.RETRY_F
    c.tick(5.0)
    out = c.on_slac(MatchFailed("TT_EVSE_SLAC_init expired"), 6.0)
    assert StopSlac("TT_EVSE_SLAC_init expired") in out
    assert out[-1] == SetDuty(26.67) and c.session == "basic"
    assert not c.gate  # B: no power yet
    assert c.on_pilot("C", 7.0) == [PowerGate(True, "basic charging")]
    assert c.on_pilot("B", 8.0) == [PowerGate(False, "basic charging")]  # C -> B opens


def test_no_fallback_offers_no_charging_x1_and_keeps_power_off() -> None:
    c = Coordinator(CoordinatorConfig(retries=0, basic_fallback=False))
    c.on_current(32.0, 0.0)
    c.on_pilot("B", 0.0)
    out = c.on_slac(MatchFailed("x"), 1.0)
    assert out == [StopSlac("x"), SetDuty(100.0)] and c.phase is Phase.FAILED
    assert c.on_pilot("C", 2.0) == [] and not c.gate
    assert c.on_pilot("A", 3.0)[-1] == SetDuty(5.0) and c.phase is Phase.IDLE


@pytest.mark.parametrize(
    ("amps", "duty"),
    [(6.0, 10.0), (10.0, 16.67), (16.0, 26.67), (32.0, 53.33), (63.0, 89.2), (80.0, 96.0),
     (5.9, 100.0), (0.0, 100.0), (100.0, 96.0)],
)
def test_basic_duty_from_the_allowed_current_iec61851_1_annex_a(amps: float, duty: float) -> None:
    assert duty_for_current(amps) == duty
    c = Coordinator(CoordinatorConfig(slac=False))
    c.on_current(amps, 0.0)
    c.on_pilot("C", 0.0)
    assert c.duty_pct == duty and c.session == "basic"
    assert c.gate == (duty < 100.0)  # below 6 A: X1, no charging offered, power off


def test_basic_follows_the_current_and_closes_only_while_offered() -> None:
    c = Coordinator(CoordinatorConfig(slac=False))
    assert c.duty_pct == 100.0  # basic-only: X1 until an EV is there
    c.on_current(16.0, 0.0)
    assert c.on_pilot("C", 0.0) == [SetDuty(26.67), PowerGate(True, "basic charging")]
    assert c.on_current(3.0, 1.0) == [SetDuty(100.0), PowerGate(False, "basic charging")]
    assert c.on_current(10.0, 2.0) == [SetDuty(16.67), PowerGate(True, "basic charging")]
    assert current_for_power(11040.0, 230.0, 3) == pytest.approx(16.0)
    assert current_for_power(-5000.0, 230.0, 3) == 0.0


@pytest.mark.parametrize("fault", ["E", "F"])
def test_e_or_f_during_matching_ends_slac_iec61851_1(fault: str) -> None:
    c = Coordinator(CoordinatorConfig())
    c.on_pilot("B", 0.0)
    assert c.on_pilot(fault, 1.0) == [StopSlac(f"pilot state {fault}")]
    assert c.phase is Phase.FAULT and c.tick(100.0) == []
    assert c.on_pilot("B", 101.0) == [StartSlac()]  # back: matching starts afresh


def test_unplug_mid_session_stops_everything_power_first() -> None:
    c = Coordinator(CoordinatorConfig())
    _iso(c)
    c.on_pilot("C", 1.0)
    c.on_energy_transfer(True, 2.0)
    out = c.on_pilot("A", 3.0)
    why = "unplugged (pilot A)"
    assert out == [PowerGate(False, why), StopSecc(why), StopSlac(why)]
    assert c.phase is Phase.IDLE and c.session == "none"


def test_unplug_in_basic_opens_and_returns_to_5_percent() -> None:
    c = Coordinator(CoordinatorConfig(retries=0))
    c.on_current(16.0, 0.0)
    c.on_pilot("C", 0.0)
    c.on_slac(MatchFailed("x"), 1.0)
    assert c.gate
    assert c.on_pilot("A", 2.0) == [PowerGate(False, "unplugged (pilot A)"), SetDuty(5.0)]


def test_match_dropped_in_session_stops_the_secc_and_retries() -> None:
    c = Coordinator(CoordinatorConfig(retries=1))
    _iso(c)
    out = c.on_slac(MatchDropped("gone"), 5.0)
    assert out == [StopSecc("gone"), StopSlac("gone"), SetDuty(0.0)]
    assert c.on_slac(LinkDown("x"), 5.0) == []


def test_unplug_during_the_retry_step_goes_idle() -> None:
    c = Coordinator(CoordinatorConfig(retries=1))
    c.on_pilot("B", 0.0)
    c.on_slac(MatchFailed("x"), 1.0)
    assert c.on_pilot("A", 2.0) == [SetDuty(5.0)] and c.phase is Phase.IDLE


def test_each_retry_steps_through_state_f_and_the_last_failure_falls_back() -> None:
    c = Coordinator(CoordinatorConfig(retries=2, ef_step_s=4.0))
    c.on_current(32.0, 0.0)
    c.on_pilot("B", 0.0)
    steps = 0
    for t in (1.0, 10.0):
        assert c.on_slac(MatchFailed("x"), t)[-1] == SetDuty(0.0)
        steps += 1
        assert c.tick(t + 4.0) == [SetDuty(5.0), StartSlac()]
    out = c.on_slac(MatchFailed("x"), 20.0)
    assert steps == 2 and out[-1] == SetDuty(53.33) and c.session == "basic"


def test_hal_lost_mid_session_ends_it_power_off_first_and_waits_in_state_f() -> None:
    # Safety first: while hal is gone the pilot, contactor and EV are unknown.
    c = Coordinator(CoordinatorConfig(retries=1))
    _iso(c)
    c.on_pilot("C", 1.0)
    c.on_energy_transfer(True, 2.0)
    out = c.on_hal_lost(3.0)
    why = "hal link lost"
    assert out == [PowerGate(False, why), StopSecc(why), StopSlac(why), SetDuty(0.0)]
    assert c.phase is Phase.HAL_LOST and c.session == "none" and not c.gate
    assert c.on_pilot("C", 3.5) == [] and c.tick(100.0) == []  # nothing read, nothing on
    assert c.on_energy_transfer(True, 4.0) == [] and not c.gate  # an old session's word


def test_hal_back_restarts_the_plug_in_through_state_f_then_matches_iso15118_3() -> None:
    # ISO 15118-3: the EVSE may retry through E/F; after a hal restart it always does, so a
    # car still plugged starts SLAC again, and power waits for the new PowerDelivery.
    c = Coordinator(CoordinatorConfig(retries=1, ef_step_s=4.0))
    _iso(c)
    c.on_slac(MatchDropped("x"), 1.0)  # the one retry used up before hal went
    c.tick(5.0)
    c.on_hal_lost(10.0)
    assert c.on_hal_back(12.0) == []  # already in F, power already off
    assert c.phase is Phase.RETRY_F and c.retries_left == 1  # a fresh plug-in
    assert c.on_pilot("F", 12.1) == []  # our own F step
    assert c.tick(15.9) == []
    assert c.tick(16.0) == [SetDuty(5.0), StartSlac()]
    c.on_pilot("B", 16.1)
    c.on_slac(MATCH, 17.0)
    assert c.on_slac(LinkUp(), 17.0) == [StartSecc()]
    c.on_pilot("C", 18.0)
    assert not c.gate  # C alone: no power before the new session's PowerDelivery
    assert c.on_energy_transfer(True, 19.0) == [PowerGate(True, "ISO 15118 PowerDelivery Start")]


def test_hal_back_without_a_car_goes_idle_at_5_percent() -> None:
    c = Coordinator(CoordinatorConfig())
    c.on_hal_lost(0.0)
    c.on_hal_back(1.0)
    assert c.on_pilot("A", 1.5) == [SetDuty(5.0)] and c.phase is Phase.IDLE
    assert c.on_hal_back(2.0) == []  # only after a loss


def test_hal_back_on_a_basic_only_station_offers_the_current_again_after_f() -> None:
    c = Coordinator(CoordinatorConfig(slac=False, ef_step_s=4.0))
    c.on_current(16.0, 0.0)
    c.on_pilot("C", 0.0)
    assert c.gate
    assert c.on_hal_lost(1.0) == [PowerGate(False, "hal link lost"), SetDuty(0.0)]
    c.on_hal_back(2.0)
    c.on_pilot("F", 2.1)
    assert c.tick(6.0) == [SetDuty(26.67)] and c.session == "basic"
    assert c.on_pilot("C", 6.5) == [PowerGate(True, "basic charging")]
