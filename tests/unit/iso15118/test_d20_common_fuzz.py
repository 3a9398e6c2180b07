"""Fuzzing the -20 session core and the V2GTP framer with mutated valid sessions (bit
flips, truncation, reordering, duplication, dropped and spliced messages): whatever
arrives, no exception escapes, every frame sent back is a valid V2GTP frame with a
decodable response, the session ends cleanly (SessionEnded, power off), and the next
session on the same SECC state (codecs, paused sessions) completes normally.

`make test` runs a bounded number; `make fuzz` sets SECC_FUZZ_SESSIONS for a long run.
"""

from __future__ import annotations

import os
import random
from typing import Any

from d20_requests import (
    AC_URN,
    DC_URN,
    authorization,
    authorization_setup,
    codec,
    config,
    counter_bytes,
    frame,
    sap,
    service_detail,
    service_discovery,
    service_selection,
    session_setup,
    session_stop,
    view,
)

from evse.iso15118 import v2gtp
from evse.iso15118.d20.session import Codecs, PausedSessions, Reply, Session
from evse.iso15118.d20.types import EnergyTransfer, SessionEnded
from evse.iso15118.exi import find_namespace

_SESSIONS = int(os.environ.get("SECC_FUZZ_SESSIONS", "300"))
_SEED = int(os.environ.get("SECC_FUZZ_SEED", "15118"))
SID = b"\x01" * 8  # what counter_bytes() gives the first session


def valid_session(stop: str = "Terminate") -> list[bytes]:
    """The V2GTP frames of a whole valid session, SAP to SessionStop."""
    msgs: list[tuple[str, Any]] = [
        ("supportedAppProtocolReq", sap((AC_URN, 1, 0, 1, 1), (DC_URN, 1, 0, 2, 2))),
        ("SessionSetupReq", session_setup()),
        ("AuthorizationSetupReq", authorization_setup(SID)),
        ("AuthorizationReq", authorization(SID)),
        ("ServiceDiscoveryReq", service_discovery(SID)),
        ("ServiceDetailReq", service_detail(SID, 5)),
        ("ServiceSelectionReq", service_selection(SID, 5, 2)),
        ("SessionStopReq", session_stop(SID, stop)),
    ]
    return [v2gtp.pack(*frame(name, msg)) for name, msg in msgs]


VALID = valid_session()


def _flip(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        bit = rng.randrange(len(buf) * 8)
        buf[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(buf)


def mutate(rng: random.Random, frames: list[bytes]) -> bytes:
    """One mutated byte stream of a valid session."""
    frames = list(frames)
    op = rng.randrange(7)
    i = rng.randrange(len(frames))
    if op == 0:  # bit flips inside one message (header or EXI)
        frames[i] = _flip(rng, frames[i])
    elif op == 1:  # bit flips inside the EXI only: the framing stays whole
        frames[i] = frames[i][:8] + _flip(rng, frames[i][8:])
    elif op == 2:  # truncation of the stream
        stream = b"".join(frames)
        return stream[: rng.randrange(len(stream))]
    elif op == 3:  # reordering
        j = rng.randrange(len(frames))
        frames[i], frames[j] = frames[j], frames[i]
    elif op == 4:  # duplication
        frames.insert(i, frames[i])
    elif op == 5:  # a message dropped
        del frames[i]
    else:  # a message cut short inside, the rest spliced on
        cut = rng.randrange(1, len(frames[i]))
        frames[i] = frames[i][:cut]
    return b"".join(frames)


def feed(session: Session, stream: bytes, rng: random.Random) -> list[Reply]:
    """The transport's loop (secc.py), fed in random chunks, with a fake clock."""
    framer = v2gtp.Framer()
    replies: list[Reply] = []
    now = 1.0
    pos = 0
    while pos < len(stream) and not session.ended:
        n = rng.randint(1, 64)
        for item in framer.feed(stream[pos : pos + n]):
            if isinstance(item, v2gtp.V2gtpError):
                if (r := session.abort(f"V2GTP {item.code}")) is not None:
                    replies.append(r)
                break
            now += 0.5
            state = "accepted" if rng.random() < 0.7 else "pending"
            replies.append(
                session.receive(item.payload_type, item.payload, view(authorization=state), now)
            )
            if session.ended:
                break
        pos += n
    if not session.ended:  # the car went silent: the connection ends
        end = session.poll(now + 61.0) or session.abort("eof")
        assert end is not None
        replies.append(end)
    return replies


def check_replies(replies: list[Reply]) -> None:
    for r in replies:
        if r.data:
            msg = v2gtp.unpack(r.data)
            assert isinstance(msg, v2gtp.V2gtpMessage), msg
            name, _ = codec(find_namespace(msg.payload_type).short).decode_message(msg.payload)
            assert name == r.response
    last = replies[-1]
    assert last.ended
    assert sum(isinstance(a, SessionEnded) for r in replies for a in r.actions) == 1
    assert not any(isinstance(a, SessionEnded) for r in replies[:-1] for a in r.actions)


def run_valid(codecs: Codecs, paused: PausedSessions) -> list[str]:
    s = Session(config(), 0.0, codecs=codecs, paused=paused, random_bytes=counter_bytes())
    codes = []
    for i, data in enumerate(VALID):
        msg = v2gtp.unpack(data)
        assert isinstance(msg, v2gtp.V2gtpMessage)
        state = view(authorization="accepted", may_discharge=True)
        r = s.receive(msg.payload_type, msg.payload, state, 1.0 + i)
        out = v2gtp.unpack(r.data)
        assert isinstance(out, v2gtp.V2gtpMessage), (i, r)
        _, res = codec(find_namespace(out.payload_type).short).decode_message(out.payload)
        codes.append(res.ResponseCode)
    return codes


def test_mutated_sessions_end_cleanly_and_the_next_session_works() -> None:
    rng = random.Random(_SEED)
    codecs, paused = Codecs(), PausedSessions()
    ok = ["OK_SuccessfulNegotiation", "OK_NewSessionEstablished"] + ["OK"] * 6
    assert run_valid(codecs, paused) == ok
    for _ in range(_SESSIONS):
        session = Session(config(), 0.0, codecs=codecs, paused=paused, random_bytes=counter_bytes())
        session.ctx.energy_transfer = rng.random() < 0.3  # as if power flowed
        was_on = session.ctx.energy_transfer
        replies = feed(session, mutate(rng, VALID), rng)
        check_replies(replies)
        if was_on:  # safety first: power stops with the session
            assert any(
                isinstance(a, EnergyTransfer) and not a.start for r in replies for a in r.actions
            )
        assert run_valid(codecs, paused) == ok


def test_random_bytes_into_the_framer_and_session_never_raise() -> None:
    rng = random.Random(_SEED + 1)
    codecs, paused = Codecs(), PausedSessions()
    for _ in range(max(50, _SESSIONS // 3)):
        session = Session(config(), 0.0, codecs=codecs, paused=paused, random_bytes=counter_bytes())
        ptype = rng.choice([v2gtp.SAP, v2gtp.COMMON, v2gtp.AC, v2gtp.DC])
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        stream = v2gtp.pack(ptype, b"\x80" + junk) + bytes(rng.randrange(256) for _ in range(20))
        check_replies(feed(session, stream, rng))
