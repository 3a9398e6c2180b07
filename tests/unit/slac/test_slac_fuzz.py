"""Fuzzing the SLAC codec and feeding its output to the state machines.

`make test` runs a bounded number of examples; `make fuzz` sets SLAC_FUZZ_EXAMPLES."""

from __future__ import annotations

import contextlib
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evse.slac import frames as f
from evse.slac import messages as m
from evse.slac.ev_fsm import EvSlacMachine
from evse.slac.evse_fsm import EvseSlacMachine, State
from evse.slac.frames import FrameError

FUZZ = int(os.environ.get("SLAC_FUZZ_EXAMPLES", "200"))
FUZZ_SETTINGS = settings(max_examples=FUZZ, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])

EVSE_MAC = bytes.fromhex("020000000a01")
EV_MAC = bytes.fromhex("020000000e01")
macs = st.sampled_from([EVSE_MAC, EV_MAC, f.BROADCAST, f.QCA_LOCAL_MAC])


def _valid_frames() -> st.SearchStrategy[bytes]:
    b = st.binary
    run = b(min_size=8, max_size=8)
    mac6 = b(min_size=6, max_size=6)
    byte = st.integers(0, 255)
    aag = b(min_size=1, max_size=58)
    msgs = st.one_of(
        st.builds(m.SetKeyReq, nid=b(min_size=7, max_size=7), new_key=b(min_size=16, max_size=16)),
        st.builds(m.SetKeyCnf, result=byte),
        st.builds(m.SlacParmReq, run_id=run),
        st.builds(m.SlacParmCnf, forwarding_sta=mac6, run_id=run, num_sounds=byte,
                  time_out=byte),
        st.builds(m.StartAttenCharInd, num_sounds=byte, time_out=byte, forwarding_sta=mac6,
                  run_id=run),
        st.builds(m.MnbcSoundInd, cnt=byte, run_id=run, rnd=b(min_size=16, max_size=16)),
        st.builds(m.AttenProfileInd, pev_mac=mac6, aag=aag),
        st.builds(m.AttenCharInd, source_address=mac6, run_id=run, num_sounds=byte, aag=aag),
        st.builds(m.AttenCharRsp, source_address=mac6, run_id=run, result=byte),
        st.builds(m.ValidateReq, signal_type=byte, timer=byte, result=byte),
        st.builds(m.ValidateCnf, result=byte),
        st.builds(m.SlacMatchReq, pev_mac=mac6, evse_mac=mac6, run_id=run),
        st.builds(m.SlacMatchCnf, pev_mac=mac6, evse_mac=mac6, run_id=run,
                  nid=b(min_size=7, max_size=7), nmk=b(min_size=16, max_size=16)),
        st.builds(m.LinkStatusReq),
        st.builds(m.LinkStatusCnf, link_status=byte),
    )
    return st.builds(m.encode, msgs, macs, macs)


@FUZZ_SETTINGS
@given(frame=_valid_frames())
def test_fuzz_every_encoded_message_decodes_to_itself(frame: bytes) -> None:
    decoded = m.decode_frame(frame)
    assert decoded is not None
    assert m.encode(decoded.message, decoded.header.dst, decoded.header.src) == frame


@FUZZ_SETTINGS
@given(
    frame=_valid_frames(),
    cut=st.integers(0, 200),
    flips=st.lists(st.tuples(st.integers(0, 199), st.integers(1, 255)), max_size=6),
    tail=st.binary(max_size=40),
)
def test_fuzz_mutated_frames_decode_or_raise_frame_error_only(
    frame: bytes, cut: int, flips: list[tuple[int, int]], tail: bytes
) -> None:
    data = bytearray(frame[:cut] + tail)
    for pos, mask in flips:
        if pos < len(data):
            data[pos] ^= mask
    try:
        decoded = m.decode_frame(bytes(data))
    except FrameError:
        return
    assert decoded is None or isinstance(decoded.message, m.Message)


@FUZZ_SETTINGS
@given(st.binary(max_size=300))
def test_fuzz_garbage_decodes_or_raises_frame_error_only(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        decoded = m.decode_frame(data)
        assert decoded is None or isinstance(decoded.message, m.Message)


@FUZZ_SETTINGS
@given(frames=st.lists(st.one_of(_valid_frames(), st.binary(max_size=120)), max_size=30),
       step=st.floats(0.0, 1.0))
def test_fuzz_machines_take_any_frame_sequence_without_raising(
    frames: list[bytes], step: float
) -> None:
    evse = EvseSlacMachine(EVSE_MAC)
    ev = EvSlacMachine(EV_MAC)
    now = 0.0
    evse.start(now)
    ev.start(now)
    for frame in frames:
        now += step
        for machine in (evse, ev):
            machine.receive(frame, now)
            machine.tick(now)
    assert isinstance(evse.state, State)
