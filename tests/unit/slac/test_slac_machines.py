"""The EVSE and EV SLAC state machines (ISO 15118-3) with a fake clock over simulated
modems: every state and timer, two EVs on one segment, foreign and malformed frames."""

from __future__ import annotations

from slac_rig import Node, Rig

from evse.slac import frames as f
from evse.slac import messages as m
from evse.slac import timers as t
from evse.slac.ev_fsm import EvSlacMachine, EvState
from evse.slac.events import LinkDown, LinkUp, MatchDropped, Matched, MatchFailed
from evse.slac.evse_fsm import EvseSlacMachine, Phase, State
from evse.slac.keys import nid_from_nmk

EVSE_MAC = bytes.fromhex("020000000a01")
EV_MAC = bytes.fromhex("020000000e01")
EV2_MAC = bytes.fromhex("020000000e02")
NMK = bytes(range(16))


def rig_with(evs: int = 1) -> tuple[Rig, Node, list[Node]]:
    rig = Rig()
    machine = EvseSlacMachine(EVSE_MAC, nmk_source=lambda: NMK)
    evse = rig.add("evse", machine, b"\x00\xb0\x52\xaa\x00\x01")
    ev_nodes = [
        rig.add(f"ev{i}", EvSlacMachine(mac), bytes([0, 0xB0, 0x52, 0xEE, 0, i]))
        for i, mac in enumerate((EV_MAC, EV2_MAC)[:evs])
    ]
    return rig, evse, ev_nodes


def evse_of(node: Node) -> EvseSlacMachine:
    assert isinstance(node.machine, EvseSlacMachine)
    return node.machine


def ev_of(node: Node) -> EvSlacMachine:
    assert isinstance(node.machine, EvSlacMachine)
    return node.machine


def test_iso15118_3_full_match_sets_key_answers_and_brings_the_link_up() -> None:
    rig, evse, (ev,) = rig_with()
    rig.handle(evse, evse_of(evse).start(rig.now))
    # CM_SET_KEY with a fresh NMK and its NID on our own modem (ISO 15118-3, 9.1).
    assert evse.modem.nmk == NMK and evse.modem.nid == nid_from_nmk(NMK)
    rig.handle(ev, ev_of(ev).start(rig.now))
    rig.run_until(lambda: evse_of(evse).state is State.LINKED and ev_of(ev).state is EvState.LINKED)
    assert evse_of(evse).state is State.LINKED
    assert ev_of(ev).state is EvState.LINKED
    matched = [o for o in evse.outcomes if isinstance(o, Matched)]
    assert matched == [Matched(EV_MAC, nid_from_nmk(NMK), NMK, ev_of(ev).run_id)]
    assert any(isinstance(o, LinkUp) for o in evse.outcomes)
    # The EV's own modem got the NMK/NID from CM_SLAC_MATCH.CNF.
    assert ev.modem.nmk == NMK and ev.modem.nid == nid_from_nmk(NMK)
    # The EVSE answered with the parameters of ISO 15118-3: 10 sounds, 600 ms.
    cnf = next(x for x in evse.sent if isinstance(x, m.SlacParmCnf))
    assert (cnf.num_sounds, cnf.time_out, cnf.forwarding_sta) == (10, 6, EV_MAC)
    char = next(x for x in evse.sent if isinstance(x, m.AttenCharInd))
    assert char.num_sounds == t.C_EV_MATCH_MNBC and set(char.aag) == {20}
    assert sum(isinstance(x, m.StartAttenCharInd) for x in ev.sent) == 3
    assert sum(isinstance(x, m.MnbcSoundInd) for x in ev.sent) == 10


def test_idle_until_pilot_b_5_percent_no_frame_is_answered() -> None:
    machine = EvseSlacMachine(EVSE_MAC)
    req = m.encode(m.SlacParmReq(run_id=b"I" * 8), f.BROADCAST, EV_MAC)
    assert machine.receive(req, 0.0) == [] and machine.deadline() is None
    assert machine.state is State.IDLE
    assert machine.stop(0.0) == []  # nothing to drop


def test_tt_evse_slac_init_expires_without_an_ev() -> None:
    rig, evse, _ = rig_with(evs=0)
    rig.handle(evse, evse_of(evse).start(0.0))
    rig.run_until(lambda: evse_of(evse).state is State.FAILED)
    assert evse_of(evse).state is State.FAILED
    assert rig.now >= t.TT_EVSE_SLAC_INIT
    assert isinstance(evse.outcomes[-1], MatchFailed)
    assert "TT_EVSE_SLAC_init" in evse.outcomes[-1].reason


def test_set_key_retried_then_failed_when_our_modem_is_silent() -> None:
    machine = EvseSlacMachine(EVSE_MAC)
    out = machine.start(0.0)
    assert len(out) == 1
    now, sends = 0.0, 1
    while machine.state is State.MATCHING:
        now = machine.deadline() or now
        res = machine.tick(now)
        sends += sum(1 for o in res if not isinstance(o, MatchFailed))
    assert sends == 1 + t.MODEM_RETRIES
    assert machine.failure is not None and "CM_SET_KEY" in machine.failure


def test_tt_match_sequence_session_dropped_without_start_atten_char() -> None:
    machine = EvseSlacMachine(EVSE_MAC)
    machine.start(0.0)
    machine.receive(m.encode(m.SetKeyCnf(result=1), EVSE_MAC, f.QCA_LOCAL_MAC), 0.0)
    run = b"R" * 8
    out = machine.receive(m.encode(m.SlacParmReq(run_id=run), f.BROADCAST, EV_MAC), 1.0)
    assert len(out) == 1 and EV_MAC in machine.sessions
    assert machine.deadline() == 1.0 + t.TT_MATCH_SEQUENCE
    stranger = m.encode(m.StartAttenCharInd(num_sounds=10, time_out=6, forwarding_sta=EV_MAC,
                                            run_id=b"S" * 8), f.BROADCAST, EV_MAC)
    for junk in (stranger, b"\x00" * 13, EVSE_MAC + EV_MAC + b"\x88\xe1\x01\x6a\x60"):
        assert machine.receive(junk, 1.1) == []  # foreign / malformed in PARM: kept
    assert machine.sessions[EV_MAC].phase is Phase.PARM
    machine.tick(1.0 + t.TT_MATCH_SEQUENCE)
    assert machine.sessions == {} and machine.state is State.MATCHING  # EV may retry


def test_tt_evse_match_mnbc_atten_char_after_timeout_with_the_sounds_heard() -> None:
    rig, evse, (ev,) = rig_with()
    rig.handle(evse, evse_of(evse).start(0.0))
    ev.modem.segment = None  # sounds do not arrive: only START_ATTEN_CHAR is injected
    machine = evse_of(evse)
    run = b"Q" * 8
    machine.receive(m.encode(m.SlacParmReq(run_id=run), f.BROADCAST, EV_MAC), 1.0)
    start = m.StartAttenCharInd(num_sounds=10, time_out=6, forwarding_sta=EV_MAC, run_id=run)
    machine.receive(m.encode(start, f.BROADCAST, EV_MAC), 1.01)
    assert machine.sessions[EV_MAC].phase is Phase.SOUNDING
    for i in range(3):  # three of ten sounds reach our modem
        machine.receive(m.encode(m.AttenProfileInd(pev_mac=EV_MAC, aag=bytes([10 + i] * 58)),
                                 EVSE_MAC, f.QCA_LOCAL_MAC), 1.1)
    assert machine.deadline() == 1.01 + t.TT_EVSE_MATCH_MNBC
    out = machine.tick(1.01 + t.TT_EVSE_MATCH_MNBC)
    decoded = m.decode_frame(out[0].frame)  # type: ignore[union-attr]
    assert decoded is not None and isinstance(decoded.message, m.AttenCharInd)
    assert decoded.message.num_sounds == 3 and set(decoded.message.aag) == {11}


def test_atten_char_retried_then_session_dropped() -> None:
    machine = EvseSlacMachine(EVSE_MAC)
    machine.start(0.0)
    run = b"Z" * 8
    machine.receive(m.encode(m.SlacParmReq(run_id=run), f.BROADCAST, EV_MAC), 0.0)
    for _ in range(10):
        machine.receive(m.encode(m.AttenProfileInd(pev_mac=EV_MAC, aag=bytes([9] * 58)),
                                 EVSE_MAC, f.QCA_LOCAL_MAC), 0.1)
    assert machine.sessions[EV_MAC].phase is Phase.ATTEN_CHAR
    resent = 0
    for k in range(1, 5):
        out = machine.tick(0.1 + k * t.TT_MATCH_RESPONSE)
        resent += sum(isinstance(m.decode_frame(o.frame).message, m.AttenCharInd)  # type: ignore
                      for o in out)
    assert resent == t.C_EV_MATCH_RETRY
    assert EV_MAC not in machine.sessions


def test_validate_answered_not_required_and_match_session_timer() -> None:
    machine = EvseSlacMachine(EVSE_MAC)
    machine.start(0.0)
    run = b"V" * 8
    machine.receive(m.encode(m.SlacParmReq(run_id=run), f.BROADCAST, EV_MAC), 0.0)
    for _ in range(10):
        machine.receive(m.encode(m.AttenProfileInd(pev_mac=EV_MAC, aag=bytes([9] * 58)),
                                 EVSE_MAC, f.QCA_LOCAL_MAC), 0.1)
    machine.receive(m.encode(m.AttenCharRsp(source_address=EV_MAC, run_id=run), EVSE_MAC,
                             EV_MAC), 0.15)
    assert machine.sessions[EV_MAC].phase is Phase.WAIT_MATCH
    out = machine.receive(m.encode(m.ValidateReq(), EVSE_MAC, EV_MAC), 0.2)
    decoded = m.decode_frame(out[0].frame)  # type: ignore[union-attr]
    assert decoded is not None
    assert decoded.message == m.ValidateCnf(result=m.VALIDATE_NOT_REQUIRED)
    machine.tick(0.15 + t.TT_EVSE_MATCH_SESSION)  # TT_EVSE_match_session
    assert EV_MAC not in machine.sessions


def test_tt_match_join_fails_when_the_ev_never_joins() -> None:
    rig, evse, (ev,) = rig_with()
    rig.handle(evse, evse_of(evse).start(0.0))
    rig.handle(ev, ev_of(ev).start(0.0))
    rig.run_until(lambda: evse_of(evse).state is State.MATCHED)
    ev.modem.nmk = ev.modem.nid = None
    ev.mute = True  # the car stops talking after the match: it never joins
    rig.run_until(lambda: evse_of(evse).state is State.FAILED)
    assert "TT_match_join" in str(evse_of(evse).failure)
    matched_at = next(i for i, o in enumerate(evse.outcomes) if isinstance(o, Matched))
    assert isinstance(evse.outcomes[-1], MatchFailed) and matched_at < len(evse.outcomes) - 1


def test_link_lost_after_link_up_is_reported() -> None:
    rig, evse, (ev,) = rig_with()
    rig.handle(evse, evse_of(evse).start(0.0))
    rig.handle(ev, ev_of(ev).start(0.0))
    rig.run_until(lambda: evse_of(evse).state is State.LINKED)
    ev.modem.nmk = ev.modem.nid = None  # the EV left our network
    rig.run_until(lambda: any(isinstance(o, LinkDown) for o in evse.outcomes), limit=rig.now + 5)
    assert evse_of(evse).state is State.MATCHED


def test_pilot_leaving_bcd_drops_the_match_and_rekeys_our_modem() -> None:
    rig, evse, (ev,) = rig_with()
    rig.handle(evse, evse_of(evse).start(0.0))
    rig.handle(ev, ev_of(ev).start(0.0))
    rig.run_until(lambda: evse_of(evse).state is State.LINKED)
    keys = evse.modem.keys_set
    rig.handle(evse, evse_of(evse).stop(rig.now))
    assert evse_of(evse).state is State.IDLE
    assert isinstance(evse.outcomes[-1], MatchDropped)
    assert evse.modem.keys_set == keys + 1  # a new key pushes the EV out of our network


def test_pilot_drop_during_matching_ends_it() -> None:
    rig, evse, (ev,) = rig_with()
    rig.handle(evse, evse_of(evse).start(0.0))
    rig.handle(ev, ev_of(ev).start(0.0))
    rig.run_until(lambda: bool(evse_of(evse).sessions)
                  and evse_of(evse).sessions[EV_MAC].phase is Phase.SOUNDING)
    rig.handle(evse, evse_of(evse).stop(rig.now))
    assert evse_of(evse).state is State.IDLE and evse_of(evse).deadline() is None
    rig.run_until(lambda: ev_of(ev).state is EvState.FAILED)
    assert not any(isinstance(o, Matched) for o in evse.outcomes)


def test_two_evs_on_one_segment_each_answered_only_ours_matched() -> None:
    rig, evse, (ev1, ev2) = rig_with(evs=2)
    other = rig.add("other-evse", EvseSlacMachine(bytes.fromhex("020000000b01")),
                    b"\x00\xb0\x52\xbb\x00\x01")
    # EV2 is plugged into the other charger: it hears our EVSE only through crosstalk.
    rig.segment.set_attenuation(evse.modem, ev2.modem, 55)
    rig.segment.set_attenuation(other.modem, ev1.modem, 55)
    for n in (evse, other):
        rig.handle(n, evse_of(n).start(0.0))
    rig.handle(ev1, ev_of(ev1).start(0.0))
    rig.handle(ev2, ev_of(ev2).start(0.0))
    rig.run_until(lambda: all(ev_of(e).state is EvState.LINKED for e in (ev1, ev2)))
    answered = {x.forwarding_sta for x in evse.sent if isinstance(x, m.SlacParmCnf)}
    assert answered == {EV_MAC, EV2_MAC}  # each EV's request is answered
    assert evse_of(evse).matched_ev == EV_MAC
    assert evse_of(other).matched_ev == EV2_MAC
    assert ev_of(ev1).chosen == EVSE_MAC and ev_of(ev2).chosen == other.machine.mac  # type: ignore[attr-defined]


def test_foreign_and_malformed_frames_are_ignored_in_every_state() -> None:
    junk = [
        EV_MAC + EVSE_MAC + b"\x86\xdd" + bytes(60),  # IPv6
        EVSE_MAC + EV_MAC + b"\x88\xe1\x01\x64\x60",  # truncated
        EVSE_MAC + EV_MAC + b"\x88\xe1\x01\x7c\x60\x00\x00" + bytes(70),  # bad MVFLength
        m.encode(m.SlacMatchReq(pev_mac=EV_MAC, evse_mac=EVSE_MAC, run_id=b"x" * 8),
                 EVSE_MAC, EV2_MAC),  # a stranger's match request
        m.encode(m.AttenCharRsp(source_address=EV_MAC, run_id=b"y" * 8), EVSE_MAC, EV_MAC),
        b"",
    ]
    rig, evse, (ev,) = rig_with()
    rig.handle(evse, evse_of(evse).start(0.0))
    rig.handle(ev, ev_of(ev).start(0.0))
    seen: set[object] = set()
    for _ in range(400):
        snapshot = (evse_of(evse).state, tuple((s.phase, s.profiles)
                                               for s in evse_of(evse).sessions.values()))
        for frame in junk:
            assert evse_of(evse).receive(frame, rig.now) == []
            assert ev_of(ev).receive(frame, rig.now) == []
        after = (evse_of(evse).state, tuple((s.phase, s.profiles)
                                            for s in evse_of(evse).sessions.values()))
        assert after == snapshot
        seen.add(snapshot[1] and snapshot[1][0][0])
        seen.add(evse_of(evse).state)
        if evse_of(evse).state is State.LINKED or not rig.step():
            break
    assert evse_of(evse).state is State.LINKED
    assert {Phase.SOUNDING, State.MATCHED, State.LINKED} <= seen


def test_ev_retries_slac_parm_then_fails_without_an_evse() -> None:
    rig, _, (ev,) = rig_with()
    rig.nodes = [n for n in rig.nodes if n is ev]
    rig.segment.modems = [ev.modem]  # no charger on the segment
    rig.handle(ev, ev_of(ev).start(0.0))
    rig.run_until(lambda: ev_of(ev).state is EvState.FAILED)
    assert sum(isinstance(x, m.SlacParmReq) for x in ev.sent) == 1 + t.C_EV_MATCH_RETRY
