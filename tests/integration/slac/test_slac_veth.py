"""Our EV side against our EVSE side over veth, each behind its simulated modem, as two
processes on raw AF_PACKET sockets (ISO 15118-3)."""

from __future__ import annotations

from slac_veth import WAIT_S, Plc, read_events


def test_iso15118_3_our_ev_matches_our_evse_over_veth(plc: Plc) -> None:
    evse = plc.evse_cli("match", plc.evse_if, "--timeout", str(WAIT_S))
    ev = plc.evse_cli("match", plc.ev_if, "--ev", "--timeout", str(WAIT_S), ns=plc.ev_ns)
    ev_events = read_events(plc, ev, {"LinkUp", "MatchFailed"})
    evse_events = read_events(plc, evse, {"LinkUp", "MatchFailed"})
    assert [e["event"] for e in ev_events] == ["Matched", "LinkUp"]
    assert [e["event"] for e in evse_events] == ["Matched", "LinkUp"]
    # Both ends agree on the logical network the EVSE made for this plug-in.
    assert ev_events[0]["nid"] == evse_events[0]["nid"]
    assert ev.wait(timeout=WAIT_S) == 0 and evse.wait(timeout=WAIT_S) == 0
    # The modem status read (VS_PL_LNK_STATUS) shows the link from the EVSE host.
    status = plc.evse_cli("status", plc.evse_if)
    assert read_events(plc, status, set()) == [{"link": True}]


def test_pilot_drop_during_matching_ends_it_and_b_again_matches(plc: Plc) -> None:
    evse = plc.evse_cli("match", plc.evse_if, "--pilot-stdin", "--timeout", "600", stdin=True)
    assert evse.stdin is not None
    evse.stdin.write("B\n")
    evse.stdin.flush()
    # A car that refuses every charger (limit 10 dB, segment 20 dB) stops after the
    # attenuation exchange: the EVSE is mid-matching, waiting for CM_SLAC_MATCH.REQ.
    shy = plc.evse_cli("match", plc.ev_if, "--ev", "--max-attenuation", "10", ns=plc.ev_ns)
    assert [e["event"] for e in read_events(plc, shy, {"MatchFailed"})] == ["MatchFailed"]
    evse.stdin.write("A\n")  # pilot leaves B/C/D
    evse.stdin.flush()
    dropped = read_events(plc, evse, {"MatchDropped"})
    assert dropped[-1] == {"event": "MatchDropped", "reason": "pilot state A"}
    # Matching has ended: a car now gets no CM_SLAC_PARM.CNF.
    late = plc.evse_cli("match", plc.ev_if, "--ev", ns=plc.ev_ns)
    failed = read_events(plc, late, {"MatchFailed", "LinkUp"})
    assert failed[-1]["event"] == "MatchFailed" and "SLAC_PARM" in str(failed[-1]["reason"])
    # The pilot back in B (the retry after E/F of ISO 15118-3) matches anew.
    evse.stdin.write("B\n")
    evse.stdin.flush()
    ev = plc.evse_cli("match", plc.ev_if, "--ev", ns=plc.ev_ns)
    assert [e["event"] for e in read_events(plc, ev, {"LinkUp", "MatchFailed"})] == [
        "Matched", "LinkUp"]
    assert [e["event"] for e in read_events(plc, evse, {"LinkUp", "MatchFailed"})] == [
        "Matched", "LinkUp"]
