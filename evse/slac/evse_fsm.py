"""EVSE side of SLAC (ISO 15118-3 clause 9 / Annex A) as a sans-IO state machine.

Inputs: `start(now)` (pilot B with 5 % duty), `stop(now)` (pilot A/E/F), `pilot(state,
now)` (hal's pilot state, for CM_VALIDATE), `receive(frame, now)`, `tick(now)`; every call
returns the frames to send and the outcomes. `deadline()`
says when `tick` is due next. Several EVs may ask at once (a shared segment): each gets
its own session; the one that sends CM_SLAC_MATCH.REQ to us wins and the rest are dropped.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from evse.slac import frames as f
from evse.slac import messages as m
from evse.slac import timers as t
from evse.slac.events import (
    LinkDown,
    LinkUp,
    MatchDropped,
    Matched,
    MatchFailed,
    Output,
    SendFrame,
)
from evse.slac.frames import FrameError
from evse.slac.keys import new_nmk, nid_from_nmk
from evse.slac.modem_ops import KeySetter, LinkPoller
from evse.slac.validation import EvseValidation


@dataclass(frozen=True)
class EvseSlacConfig:
    slac_init_timeout: float = t.TT_EVSE_SLAC_INIT
    num_sounds: int = t.C_EV_MATCH_MNBC
    sound_timeout: float = t.TT_EVSE_MATCH_MNBC  # sent as Time_Out in units of 100 ms
    match_session_timeout: float = t.TT_EVSE_MATCH_SESSION
    match_join_timeout: float = t.TT_MATCH_JOIN
    atten_char_retries: int = t.C_EV_MATCH_RETRY
    evse_id: bytes = b"\x00" * m.ID_LEN
    modem_mac: bytes = f.QCA_LOCAL_MAC
    validate: bool = False  # [slac] validate: CM_VALIDATE counts BCB toggles (else "not required")


class State(enum.Enum):
    IDLE = "idle"  # not started (pilot not in B with 5 %)
    MATCHING = "matching"  # key set on our modem, answering EVs
    MATCHED = "matched"  # SLAC_MATCH.CNF sent; waiting for the EV to join (TT_match_join)
    LINKED = "linked"  # our modem reports the link: data link up
    FAILED = "failed"  # until stop()/start()


class Phase(enum.Enum):
    PARM = "parm"  # SLAC_PARM.CNF sent; waiting for START_ATTEN_CHAR / sounds
    SOUNDING = "sounding"  # collecting sounds and ATTEN_PROFILE (TT_EVSE_match_MNBC)
    ATTEN_CHAR = "atten_char"  # ATTEN_CHAR.IND sent; waiting for the RSP
    WAIT_MATCH = "wait_match"  # waiting for VALIDATE / SLAC_MATCH (TT_EVSE_match_session)


@dataclass
class EvSession:
    ev_mac: bytes
    run_id: bytes
    phase: Phase
    deadline: float
    sounds: int = 0
    profiles: int = 0
    aag_sum: list[int] = field(default_factory=list)
    atten_char_sent: int = 0

    def average(self) -> bytes:
        return bytes(min(255, round(s / self.profiles)) for s in self.aag_sum)


class EvseSlacMachine:
    def __init__(
        self,
        our_mac: bytes,
        config: EvseSlacConfig | None = None,
        nmk_source: Callable[[], bytes] = new_nmk,
    ) -> None:
        self.mac = our_mac
        self.config = config or EvseSlacConfig()
        self._new_nmk = nmk_source
        self.state = State.IDLE
        self.sessions: dict[bytes, EvSession] = {}
        self.ignored_frames = 0  # malformed or out-of-place frames (kept for diagnostics)
        self.matched_ev: bytes | None = None
        self.failure: str | None = None
        self._key: KeySetter | None = None
        self._poller = LinkPoller(our_mac, self.config.modem_mac)
        self._init_deadline: float | None = None
        self._join_deadline: float | None = None
        self._match_cnf: bytes | None = None
        self._pending_match: m.SlacMatchReq | None = None
        self._validation = EvseValidation()

    # -- inputs ---------------------------------------------------------------------

    def start(self, now: float) -> list[Output]:
        """Pilot B with 5 % duty: a fresh NMK/NID on our modem, then answer EVs."""
        self._reset()
        self.state = State.MATCHING
        nmk = self._new_nmk()
        self._key = KeySetter(self.mac, self.config.modem_mac, nmk, nid_from_nmk(nmk))
        self._init_deadline = now + self.config.slac_init_timeout  # TT_EVSE_SLAC_init
        return self._key.start(now)

    def stop(self, now: float, reason: str = "pilot left B/C/D") -> list[Output]:
        """Pilot A/E/F (or unplug): end matching or the match.

        A matched EV is pushed out of our network by a new random key on our modem.
        """
        if self.state is State.IDLE:
            return []
        was_matched = self.state in (State.MATCHED, State.LINKED)
        self._reset()
        out: list[Output] = [MatchDropped(reason)]
        if was_matched:
            nmk = self._new_nmk()
            self._key = KeySetter(self.mac, self.config.modem_mac, nmk, nid_from_nmk(nmk))
            out = self._key.start(now) + out
            self._key.deadline = None  # nothing waits on this confirmation
        return out

    def pilot(self, state: str, now: float) -> list[Output]:
        """hal's pilot state while matching: a validating EV's BCB toggles are counted."""
        self._validation.pilot(state)
        return []

    def receive(self, frame: bytes, now: float) -> list[Output]:
        try:
            decoded = m.decode_frame(frame)
        except FrameError:
            self.ignored_frames += 1  # malformed: ignored, the state is kept
            return []
        if decoded is None or self.state in (State.IDLE, State.FAILED):
            return []
        dst = decoded.header.dst
        if dst not in (self.mac, f.BROADCAST):
            return []
        return self._dispatch(decoded.header.src, decoded.message, now)

    def tick(self, now: float) -> list[Output]:
        out: list[Output] = []
        if self._key is not None and not self._key.confirmed:
            out += self._key.tick(now)
            if self._key.failed:
                return out + self._fail("our modem did not confirm CM_SET_KEY")
        out += self._poller.tick(now)
        if self.state is State.MATCHING:
            out += self._validation_tick(now)
            for session in list(self.sessions.values()):
                if now >= session.deadline:
                    out += self._session_timeout(session, now)
            if (not self.sessions and self._init_deadline is not None
                    and now >= self._init_deadline):
                out += self._fail("TT_EVSE_SLAC_init expired without a match")
        elif (self.state is State.MATCHED and self._join_deadline is not None
              and now >= self._join_deadline):
            out += self._fail("TT_match_join expired: the EV did not join our network")
        return out

    def deadline(self) -> float | None:
        times = [s.deadline for s in self.sessions.values()]
        times += [d for d in (self._poller.deadline, self._join_deadline) if d is not None]
        if self._key is not None and self._key.deadline is not None:
            times.append(self._key.deadline)
        if self._validation.deadline is not None:
            times.append(self._validation.deadline)
        if (self.state is State.MATCHING and not self.sessions
                and self._init_deadline is not None):
            times.append(self._init_deadline)
        return min(times) if times else None

    # -- protocol -------------------------------------------------------------------

    def _dispatch(self, src: bytes, msg: m.Message, now: float) -> list[Output]:
        if isinstance(msg, m.SetKeyCnf):
            return self._on_set_key_cnf(msg, now)
        if isinstance(msg, m.LinkStatusCnf):
            return self._on_link_status(msg, now)
        if isinstance(msg, m.SlacMatchReq) and self.state in (State.MATCHED, State.LINKED):
            if src == self.matched_ev and self._match_cnf is not None:
                return [SendFrame(self._match_cnf)]  # our CNF was lost: send it again
            return []
        if self.state is not State.MATCHING:
            return []
        if isinstance(msg, m.SlacParmReq):
            return self._on_parm(src, msg, now)
        if isinstance(msg, m.AttenProfileInd):
            session = self.sessions.get(msg.pev_mac)
            return self._on_profile(session, msg, now) if session else []
        session = self.sessions.get(src)
        if session is None or getattr(msg, "run_id", session.run_id) != session.run_id:
            self.ignored_frames += 1
            return []
        if isinstance(msg, m.StartAttenCharInd | m.MnbcSoundInd):
            return self._on_sound(session, msg, now)
        if isinstance(msg, m.AttenCharRsp):
            if session.phase is Phase.ATTEN_CHAR:
                session.phase = Phase.WAIT_MATCH
                session.deadline = now + self.config.match_session_timeout
            return []
        if isinstance(msg, m.ValidateReq):
            return self._on_validate(session, msg, now)
        if isinstance(msg, m.SlacMatchReq):
            return self._on_match(session, msg, now)
        return []

    def _on_parm(self, src: bytes, msg: m.SlacParmReq, now: float) -> list[Output]:
        # Each EV's request is answered; a repeated request (the EV's retry) restarts it.
        self.sessions[src] = EvSession(src, msg.run_id, Phase.PARM, now + t.TT_MATCH_SEQUENCE)
        cnf = m.SlacParmCnf(
            forwarding_sta=src,
            run_id=msg.run_id,
            num_sounds=self.config.num_sounds,
            time_out=round(self.config.sound_timeout * 10),
        )
        return [SendFrame(m.encode(cnf, src, self.mac))]

    def _begin_sounding(self, session: EvSession, now: float) -> None:
        if session.phase is Phase.PARM:
            session.phase = Phase.SOUNDING
            session.deadline = now + self.config.sound_timeout  # TT_EVSE_match_MNBC

    def _on_sound(
        self, session: EvSession, msg: m.StartAttenCharInd | m.MnbcSoundInd, now: float
    ) -> list[Output]:
        self._begin_sounding(session, now)
        if isinstance(msg, m.MnbcSoundInd) and session.phase is Phase.SOUNDING:
            session.sounds += 1
        return []

    def _on_profile(self, session: EvSession, msg: m.AttenProfileInd, now: float) -> list[Output]:
        self._begin_sounding(session, now)
        if session.phase is not Phase.SOUNDING:
            return []
        if not session.aag_sum:
            session.aag_sum = [0] * len(msg.aag)
        for i, value in enumerate(msg.aag[: len(session.aag_sum)]):
            session.aag_sum[i] += value
        session.profiles += 1
        if session.profiles >= self.config.num_sounds:
            return self._send_atten_char(session, now)  # all sounds in: no need to wait
        return []

    def _send_atten_char(self, session: EvSession, now: float) -> list[Output]:
        session.phase = Phase.ATTEN_CHAR
        session.atten_char_sent += 1
        session.deadline = now + t.TT_MATCH_RESPONSE
        ind = m.AttenCharInd(
            source_address=session.ev_mac,
            run_id=session.run_id,
            num_sounds=session.profiles,
            aag=session.average(),
        )
        return [SendFrame(m.encode(ind, session.ev_mac, self.mac))]

    def _on_validate(self, session: EvSession, msg: m.ValidateReq, now: float) -> list[Output]:
        if not self.config.validate:
            # Not configured: "not required" (ISO 15118-3 A.9.3); the EV goes on to match.
            cnf = m.ValidateCnf(result=m.VALIDATE_NOT_REQUIRED, signal_type=msg.signal_type)
            return [SendFrame(m.encode(cnf, session.ev_mac, self.mac))]
        if session.phase not in (Phase.ATTEN_CHAR, Phase.WAIT_MATCH):
            self.ignored_frames += 1  # validation follows the attenuation exchange
            return []
        if session.phase is Phase.ATTEN_CHAR:  # its CM_ATTEN_CHAR.RSP was lost
            session.phase = Phase.WAIT_MATCH
            session.deadline = now + self.config.match_session_timeout
        answer = self._validation.on_request(session.ev_mac, msg, now)
        return [] if answer is None else [SendFrame(m.encode(answer, session.ev_mac, self.mac))]

    def _validation_tick(self, now: float) -> list[Output]:
        done = self._validation.tick(now)
        if done is None or done[0] not in self.sessions:
            return []
        return [SendFrame(m.encode(done[1], done[0], self.mac))]

    def _on_match(self, session: EvSession, msg: m.SlacMatchReq, now: float) -> list[Output]:
        if session.phase not in (Phase.ATTEN_CHAR, Phase.WAIT_MATCH):
            self.ignored_frames += 1
            return []
        if self._key is None or not self._key.confirmed:
            self._pending_match = msg  # answered once our modem has the key
            session.phase = Phase.WAIT_MATCH
            return []
        return self._confirm_match(session, msg, now)

    def _confirm_match(self, session: EvSession, msg: m.SlacMatchReq, now: float) -> list[Output]:
        assert self._key is not None
        cnf = m.SlacMatchCnf(
            pev_mac=session.ev_mac,
            evse_mac=self.mac,
            run_id=session.run_id,
            pev_id=msg.pev_id,
            evse_id=self.config.evse_id,
            nid=self._key.nid,
            nmk=self._key.nmk,
        )
        self._match_cnf = m.encode(cnf, session.ev_mac, self.mac)
        self.state = State.MATCHED
        self.matched_ev = session.ev_mac
        self.sessions.clear()  # one EV per EVSE: the others' sessions end here
        self._validation.reset()
        self._join_deadline = now + self.config.match_join_timeout  # TT_match_join
        out: list[Output] = [SendFrame(self._match_cnf)]
        out.append(Matched(session.ev_mac, self._key.nid, self._key.nmk, session.run_id))
        return out + self._poller.start(now)

    def _on_set_key_cnf(self, msg: m.SetKeyCnf, now: float) -> list[Output]:
        if self._key is None or not self._key.on_confirm(msg):
            return []
        pending, self._pending_match = self._pending_match, None
        if pending is not None and self.state is State.MATCHING:
            session = next((s for s in self.sessions.values() if s.run_id == pending.run_id),
                           None)
            if session is not None:
                return self._confirm_match(session, pending, now)
        return []

    def _on_link_status(self, msg: m.LinkStatusCnf, now: float) -> list[Output]:
        if self.state is State.MATCHED and msg.link_status:
            self.state = State.LINKED
            self._join_deadline = None
            return [LinkUp()]
        if self.state is State.LINKED and not msg.link_status:
            # The link went away: give the EV TT_match_join to come back.
            self.state = State.MATCHED
            self._join_deadline = now + self.config.match_join_timeout
            return [LinkDown("our modem reports no powerline link")]
        return []

    def _session_timeout(self, session: EvSession, now: float) -> list[Output]:
        if session.phase is Phase.SOUNDING and session.profiles > 0:
            return self._send_atten_char(session, now)
        if (session.phase is Phase.ATTEN_CHAR
                and session.atten_char_sent <= self.config.atten_char_retries):
            return self._send_atten_char(session, now)
        # No START_ATTEN_CHAR in TT_match_sequence, no sounds reached our modem (an EV
        # on another charger), no RSP after the retries, or no SLAC_MATCH in time.
        del self.sessions[session.ev_mac]
        reason = f"session with {f.mac_str(session.ev_mac)} timed out in {session.phase.value}"
        if (not self.sessions and self._init_deadline is not None
                and now >= self._init_deadline):
            return self._fail(reason)
        return []

    def _fail(self, reason: str) -> list[Output]:
        self.state = State.FAILED
        self.failure = reason
        self.sessions.clear()
        self._validation.reset()
        self._poller.stop()
        self._join_deadline = None
        if self._key is not None:
            self._key.deadline = None
        return [MatchFailed(reason)]

    def _reset(self) -> None:
        self.state = State.IDLE
        self.sessions.clear()
        self._validation.reset()
        self._poller.stop()
        self._key = None
        self._init_deadline = self._join_deadline = None
        self._match_cnf = None
        self._pending_match = None
        self.matched_ev = None
        self.failure = None
