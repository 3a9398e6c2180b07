"""CM_VALIDATE (ISO 15118-3 9.4, BCB toggles on the pilot) with a fake clock: the EVSE
counts the EV's toggles in the window the EV asked for (at most TT_EVSE_vald_toggle) and
answers with the count; our simulated EV toggles in the sans-IO layer and matches only on
the right count."""

from __future__ import annotations

import pytest
from slac_rig import Node, Rig

from evse.slac import frames as f
from evse.slac import messages as m
from evse.slac import timers as t
from evse.slac.ev_fsm import EvSlacConfig, EvSlacMachine, EvState
from evse.slac.events import Matched, MatchFailed, PilotToggle
from evse.slac.evse_fsm import EvseSlacConfig, EvseSlacMachine, Phase, State

EVSE_MAC = bytes.fromhex("020000000a01")
EV_MAC = bytes.fromhex("020000000e01")
EV2_MAC = bytes.fromhex("020000000e02")
NMK = bytes(range(16))


def _rig(validate: bool, toggles: int, wired: bool = True) -> tuple[Rig, Node, Node]:
    rig = Rig()
    evse = rig.add("evse", EvseSlacMachine(EVSE_MAC, EvseSlacConfig(validate=validate),
                                           nmk_source=lambda: NMK), b"\x00\xb0\x52\xaa\x00\x01")
    ev = rig.add("ev", EvSlacMachine(EV_MAC, EvSlacConfig(validate_toggles=toggles)),
                 b"\x00\xb0\x52\xee\x00\x01")
    if wired:
        rig.wire_pilot(ev, evse)
    rig.handle(evse, evse.machine.start(rig.now))  # type: ignore[attr-defined]
    rig.handle(ev, ev.machine.start(rig.now))  # type: ignore[attr-defined]
    return rig, evse, ev


def _ev(node: Node) -> EvSlacMachine:
    assert isinstance(node.machine, EvSlacMachine)
    return node.machine


def _evse(node: Node) -> EvseSlacMachine:
    assert isinstance(node.machine, EvseSlacMachine)
    return node.machine


@pytest.mark.parametrize("toggles", [1, 2, 3])
def test_iso15118_3_cm_validate_counts_the_bcb_toggles_then_the_ev_matches(toggles: int) -> None:
    rig, evse, ev = _rig(validate=True, toggles=toggles)
    rig.run_until(lambda: _ev(ev).state is EvState.FAILED or (
        _ev(ev).state is EvState.LINKED and _evse(evse).state is State.LINKED))
    assert _ev(ev).state is EvState.LINKED and _evse(evse).state is State.LINKED
    # Step 1 (Timer 0) -> READY; step 2 (Timer = the window in 100 ms steps) -> SUCCESS.
    reqs = [x for x in ev.sent if isinstance(x, m.ValidateReq)]
    cnfs = [x for x in evse.sent if isinstance(x, m.ValidateCnf)]
    window = (2 * toggles + 1) * t.TP_EV_VALD_STATE_DURATION
    assert [(r.timer, r.result) for r in reqs] == [
        (0, m.VALIDATE_READY), (round(window / 0.1) - 1, m.VALIDATE_READY)]
    assert [(c.result, c.toggle_num) for c in cnfs] == [
        (m.VALIDATE_READY, 0), (m.VALIDATE_SUCCESS, toggles)]
    assert [o.state for o in ev.outcomes if isinstance(o, PilotToggle)] == ["C", "B"] * toggles
    assert next(o for o in evse.outcomes if isinstance(o, Matched)).peer_mac == EV_MAC


def test_validation_not_configured_answers_not_required_and_the_ev_matches_untoggled() -> None:
    rig, evse, ev = _rig(validate=False, toggles=2)
    rig.run_until(lambda: _ev(ev).state in (EvState.LINKED, EvState.FAILED))
    assert _ev(ev).state is EvState.LINKED
    cnfs = [x for x in evse.sent if isinstance(x, m.ValidateCnf)]
    assert [c.result for c in cnfs] == [m.VALIDATE_NOT_REQUIRED]
    assert not [o for o in ev.outcomes if isinstance(o, PilotToggle)]


def test_toggles_on_another_chargers_pilot_are_not_counted_the_ev_does_not_match() -> None:
    # The EV heard us best but sits on another charger's pilot: we count 0 toggles.
    rig, evse, ev = _rig(validate=True, toggles=2, wired=False)
    rig.run_until(lambda: _ev(ev).state in (EvState.LINKED, EvState.FAILED))
    assert _ev(ev).state is EvState.FAILED
    assert _ev(ev).failure == "CM_VALIDATE: the EVSE counted 0 toggles, we made 2"
    assert _evse(evse).state is State.MATCHING and _evse(evse).matched_ev is None
    assert not any(isinstance(x, m.SlacMatchReq) for x in ev.sent)
    toggles = [o.state for o in ev.outcomes if isinstance(o, PilotToggle)]
    assert toggles[-1] == "B"  # the EV's pilot is back in B
    assert isinstance(ev.outcomes[-1], MatchFailed)


def _machine_waiting_for_match(now: float = 0.0) -> EvseSlacMachine:
    machine = EvseSlacMachine(EVSE_MAC, EvseSlacConfig(validate=True))
    machine.start(now)
    ok = m.SetKeyCnf(result=m.SET_KEY_RESULT_QCA_OK)  # our modem took the key
    machine.receive(m.encode(ok, EVSE_MAC, f.QCA_LOCAL_MAC), now)
    for mac in (EV_MAC, EV2_MAC):
        run = mac[-1:] * 8
        machine.receive(m.encode(m.SlacParmReq(run_id=run), f.BROADCAST, mac), now)
        for _ in range(10):
            machine.receive(m.encode(m.AttenProfileInd(pev_mac=mac, aag=bytes([9] * 58)),
                                     EVSE_MAC, f.QCA_LOCAL_MAC), now)
        machine.receive(m.encode(m.AttenCharRsp(source_address=mac, run_id=run), EVSE_MAC,
                                 mac), now)
        assert machine.sessions[mac].phase is Phase.WAIT_MATCH
    return machine


def _cnf(out: list[object]) -> m.ValidateCnf | None:
    frames = [o.frame for o in out if hasattr(o, "frame")]
    if not frames:
        return None
    decoded = m.decode_frame(frames[0])
    assert decoded is not None and isinstance(decoded.message, m.ValidateCnf)
    return decoded.message


def _req(mac: bytes, timer: int, result: int = m.VALIDATE_READY) -> bytes:
    return m.encode(m.ValidateReq(signal_type=0, timer=timer, result=result), EVSE_MAC, mac)


def test_tt_evse_vald_toggle_caps_the_window_the_ev_asks_for() -> None:
    machine = _machine_waiting_for_match()
    assert _cnf(machine.receive(_req(EV_MAC, 0), 1.0)) == m.ValidateCnf(
        result=m.VALIDATE_READY, signal_type=0, toggle_num=0)
    assert machine.receive(_req(EV_MAC, 255), 1.1) == []  # 25.6 s asked: 3.5 s granted
    machine.pilot("C", 1.2)
    machine.pilot("B", 1.5)
    assert machine.deadline() == pytest.approx(1.1 + t.TT_EVSE_VALD_TOGGLE)
    assert machine.tick(1.1 + t.TT_EVSE_VALD_TOGGLE - 0.01) == []
    assert _cnf(machine.tick(1.1 + t.TT_EVSE_VALD_TOGGLE)) == m.ValidateCnf(
        result=m.VALIDATE_SUCCESS, signal_type=0, toggle_num=1)


def test_one_validation_at_a_time_and_step_2_due_within_tt_match_sequence() -> None:
    machine = _machine_waiting_for_match()
    assert _cnf(machine.receive(_req(EV_MAC, 0), 1.0)).result == m.VALIDATE_READY  # type: ignore[union-attr]
    # Our pilot is busy with EV 1: EV 2 hears NOT_READY.
    assert _cnf(machine.receive(_req(EV2_MAC, 0), 1.1)).result == m.VALIDATE_NOT_READY  # type: ignore[union-attr]
    # EV 1 never sends step 2: the validation ends after TT_match_sequence, without an answer.
    assert machine.tick(1.0 + t.TT_MATCH_SEQUENCE) == []
    assert _cnf(machine.receive(_req(EV2_MAC, 0), 1.5)).result == m.VALIDATE_READY  # type: ignore[union-attr]


def test_step_2_not_ready_ends_the_validation_without_an_answer() -> None:
    machine = _machine_waiting_for_match()
    machine.receive(_req(EV_MAC, 0), 1.0)
    assert machine.receive(_req(EV_MAC, 9, result=m.VALIDATE_NOT_READY), 1.1) == []
    assert machine.deadline() == pytest.approx(min(s.deadline for s in machine.sessions.values()))
    # A step 2 from an EV that did no step 1 is ignored too.
    assert machine.receive(_req(EV2_MAC, 9), 1.2) == [] and machine.deadline() != 2.2


def test_toggles_before_step_1_or_after_the_window_are_not_counted() -> None:
    machine = _machine_waiting_for_match()
    machine.pilot("C", 0.5)  # before any validation
    machine.pilot("B", 0.6)
    machine.receive(_req(EV_MAC, 0), 1.0)
    machine.pilot("C", 1.05)  # the first edge may come through hal before step 2's frame
    machine.receive(_req(EV_MAC, 9), 1.1)  # window 1.0 s
    machine.pilot("B", 1.3)
    machine.pilot("C", 1.6)
    machine.pilot("B", 1.9)
    assert _cnf(machine.tick(2.1)).toggle_num == 2  # type: ignore[union-attr]
    machine.pilot("C", 2.2)  # after the window: no validation running
    assert machine.tick(5.0) == []


def test_ev_retries_step_1_then_fails_without_a_cm_validate_cnf() -> None:
    ev = EvSlacMachine(EV_MAC, EvSlacConfig(validate_toggles=1))
    ev.start(0.0)
    run = ev.run_id
    ev.receive(m.encode(m.SlacParmCnf(forwarding_sta=EV_MAC, run_id=run, num_sounds=10,
                                         time_out=6), EV_MAC, EVSE_MAC), 0.0)
    now = 0.0
    while ev.state is EvState.SOUNDING:
        now = ev.deadline() or now
        ev.tick(now)
    out = ev.receive(m.encode(m.AttenCharInd(source_address=EV_MAC, run_id=run, num_sounds=10,
                                             aag=bytes([20] * 58)), EV_MAC, EVSE_MAC), now)
    assert ev.state is EvState.VALIDATE
    steps = [o for o in out if hasattr(o, "frame")]
    for _ in range(t.C_EV_MATCH_RETRY):  # C_EV_match_retry resends after TT_match_response
        now += t.TT_MATCH_RESPONSE
        steps += [o for o in ev.tick(now) if hasattr(o, "frame")]
    decoded = [m.decode_frame(s.frame) for s in steps]  # type: ignore[attr-defined]
    reqs = [d.message for d in decoded if d and isinstance(d.message, m.ValidateReq)]
    assert [r.timer for r in reqs] == [0] * (1 + t.C_EV_MATCH_RETRY)  # step 1 each time
    failed = ev.tick(now + t.TT_MATCH_RESPONSE)
    assert failed == [MatchFailed("no CM_VALIDATE.CNF after the retries")]


@pytest.mark.parametrize("bad", [{"validate_toggles": 4}, {"validate_toggles": -1},
                                 {"validate_toggles": 1, "toggle_state_s": 0.1}])
def test_our_ev_refuses_toggles_outside_the_standards_ranges(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"C_EV_vald_nb_toggles|TP_EV_vald_state_duration"):
        EvSlacConfig(**bad)  # type: ignore[arg-type]
