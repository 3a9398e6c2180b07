"""EV side of SLAC (ISO 15118-3), sans-IO: for simulation, tests and commissioning.

`start(now)` begins matching; `receive`, `tick` and `deadline` as on the EVSE side. The
EV asks with CM_SLAC_PARM.REQ, sounds (START_ATTEN_CHAR x3, then C_EV_match_MNBC sounds
at TP_EV_batch_msg_interval), picks the EVSE with the lowest average attenuation once
every EVSE that answered has reported (or at TT_EV_atten_results), sends SLAC_MATCH.REQ,
sets the NMK/NID from the CNF on its own modem and waits for the link.

With `validate_toggles` (1-3) it first asks that EVSE for CM_VALIDATE (ISO 15118-3 9.4):
step 1, then step 2 with its toggle window, and toggles its pilot B -> C -> B that many
times (`PilotToggle` outputs, TP_EV_vald_state_duration each state); it matches only when
the EVSE counted the same number (or answered "not required").
"""

from __future__ import annotations

import enum
import math
import secrets
from dataclasses import dataclass

from evse.slac import frames as f
from evse.slac import messages as m
from evse.slac import timers as t
from evse.slac.events import LinkUp, Matched, MatchFailed, Output, PilotToggle, SendFrame
from evse.slac.frames import FrameError
from evse.slac.modem_ops import KeySetter, LinkPoller


@dataclass(frozen=True)
class EvSlacConfig:
    sound_interval: float = t.TP_EV_BATCH_MSG_INTERVAL
    atten_results_timeout: float = t.TT_EV_ATTEN_RESULTS
    match_join_timeout: float = t.TT_MATCH_JOIN
    retries: int = t.C_EV_MATCH_RETRY
    max_attenuation_db: int = 60  # an EVSE heard worse than this is not ours
    pev_id: bytes = b"\x00" * m.ID_LEN
    modem_mac: bytes = f.QCA_LOCAL_MAC
    validate_toggles: int = 0  # 0: no CM_VALIDATE; 1-3 (C_EV_vald_nb_toggles): BCB toggles
    toggle_state_s: float = t.TP_EV_VALD_STATE_DURATION

    def __post_init__(self) -> None:
        if not 0 <= self.validate_toggles <= t.C_EV_VALD_NB_TOGGLES:
            raise ValueError(f"validate_toggles {self.validate_toggles}: 0 to "
                             f"{t.C_EV_VALD_NB_TOGGLES} (C_EV_vald_nb_toggles)")
        if not 0.2 <= self.toggle_state_s <= 0.4:
            raise ValueError(f"toggle_state_s {self.toggle_state_s}: TP_EV_vald_state_duration "
                             "is 200-400 ms")


class EvState(enum.Enum):
    IDLE = "idle"
    PARM = "parm"  # SLAC_PARM.REQ sent
    SOUNDING = "sounding"  # START_ATTEN_CHAR / MNBC sounds going out
    RESULTS = "results"  # waiting for ATTEN_CHAR.IND from the EVSEs that answered
    VALIDATE = "validate"  # CM_VALIDATE.REQ step 1 sent
    TOGGLING = "toggling"  # step 2 sent; toggling the pilot, then waiting for the count
    MATCH = "match"  # SLAC_MATCH.REQ sent
    JOINING = "joining"  # NMK set on our modem, waiting for the link
    LINKED = "linked"
    FAILED = "failed"


class EvSlacMachine:
    def __init__(self, our_mac: bytes, config: EvSlacConfig | None = None) -> None:
        self.mac = our_mac
        self.config = config or EvSlacConfig()
        self.state = EvState.IDLE
        self.run_id = b""
        self.evses: dict[bytes, int | None] = {}  # EVSE MAC -> mean attenuation (dB)
        self.chosen: bytes | None = None
        self.failure: str | None = None
        self.ignored_frames = 0
        self._num_sounds = t.C_EV_MATCH_MNBC
        self._time_out = 6
        self._to_send: list[bytes] = []
        self._deadline: float | None = None
        self._send_at: float | None = None
        self._sent = 0
        self._key: KeySetter | None = None
        self._poller = LinkPoller(our_mac, self.config.modem_mac)
        self._toggles: list[str] = []  # pilot states still to set, one per state duration
        self._toggle_at: float | None = None
        self._pilot = "B"

    def start(self, now: float) -> list[Output]:
        self._reset()  # each attempt is fresh: new RunID, no EVSEs heard yet
        self.run_id = secrets.token_bytes(m.RUN_ID_LEN)
        self.state = EvState.PARM
        self._sent = 0
        return self._send_parm(now)

    def _reset(self) -> None:
        self.evses = {}
        self.chosen = None
        self.failure = None
        self._to_send = []
        self._deadline = self._send_at = None
        self._key = None
        self._poller.stop()
        self._toggles, self._toggle_at = [], None

    def stop(self) -> None:
        self.state = EvState.IDLE
        self._deadline = self._send_at = None
        self._poller.stop()
        self._toggles, self._toggle_at = [], None

    def receive(self, frame: bytes, now: float) -> list[Output]:
        try:
            decoded = m.decode_frame(frame)
        except FrameError:
            self.ignored_frames += 1
            return []
        if decoded is None or decoded.header.dst not in (self.mac, f.BROADCAST):
            return []
        msg, src = decoded.message, decoded.header.src
        if isinstance(msg, m.SetKeyCnf | m.LinkStatusCnf):
            return self._from_modem(msg, now)
        if getattr(msg, "run_id", self.run_id) != self.run_id:
            self.ignored_frames += 1  # another EV's run
            return []
        if isinstance(msg, m.SlacParmCnf) and self.state in (
            EvState.PARM, EvState.SOUNDING, EvState.RESULTS
        ):
            return self._on_parm_cnf(src, msg, now)
        if isinstance(msg, m.AttenCharInd) and self.state in (EvState.SOUNDING,
                                                               EvState.RESULTS):
            return self._on_atten_char(src, msg, now)
        if isinstance(msg, m.ValidateCnf) and src == self.chosen:
            return self._on_validate_cnf(msg, now)
        if isinstance(msg, m.SlacMatchCnf) and self.state is EvState.MATCH:
            if src != self.chosen:
                return []
            return self._on_match_cnf(src, msg, now)
        return []

    def tick(self, now: float) -> list[Output]:
        out: list[Output] = []
        if self._send_at is not None and now >= self._send_at:
            out += self._send_next(now)
        if self._toggle_at is not None and now >= self._toggle_at:
            out += self._toggle(now)
        if self._key is not None and not self._key.confirmed:
            out += self._key.tick(now)
            if self._key.failed:
                return out + self._fail("our modem did not confirm CM_SET_KEY")
        out += self._poller.tick(now)
        if self._deadline is not None and now >= self._deadline:
            out += self._timeout(now)
        return out

    def deadline(self) -> float | None:
        times = [d for d in (self._deadline, self._send_at, self._poller.deadline,
                             self._toggle_at) if d is not None]
        if self._key is not None and self._key.deadline is not None:
            times.append(self._key.deadline)
        return min(times) if times else None

    # -- steps ----------------------------------------------------------------------

    def _send_parm(self, now: float) -> list[Output]:
        self._sent += 1
        self._deadline = now + t.TT_MATCH_RESPONSE
        req = m.SlacParmReq(run_id=self.run_id)
        return [SendFrame(m.encode(req, f.BROADCAST, self.mac))]

    def _on_parm_cnf(self, src: bytes, msg: m.SlacParmCnf, now: float) -> list[Output]:
        if src in self.evses:
            return []
        self.evses[src] = None
        if self.state is not EvState.PARM:
            return []  # a later EVSE: it hears our sounds too
        self.state = EvState.SOUNDING
        self._num_sounds = max(1, msg.num_sounds)
        self._time_out = msg.time_out
        start = m.StartAttenCharInd(num_sounds=self._num_sounds, time_out=msg.time_out,
                                    forwarding_sta=self.mac, run_id=self.run_id)
        frames = [m.encode(start, f.BROADCAST, self.mac)] * t.C_EV_START_ATTEN_CHAR_INDS
        for i in range(self._num_sounds):
            sound = m.MnbcSoundInd(cnt=self._num_sounds - 1 - i, run_id=self.run_id,
                                   sender_id=self.config.pev_id,
                                   rnd=secrets.token_bytes(16))
            frames.append(m.encode(sound, f.BROADCAST, self.mac))
        self._to_send = frames
        self._deadline = now + self.config.atten_results_timeout  # TT_EV_atten_results
        return self._send_next(now)

    def _send_next(self, now: float) -> list[Output]:
        if not self._to_send:
            self._send_at = None
            return []
        frame = self._to_send.pop(0)
        self._send_at = now + self.config.sound_interval if self._to_send else None
        if not self._to_send and self.state is EvState.SOUNDING:
            self.state = EvState.RESULTS
        return [SendFrame(frame)]

    def _on_atten_char(self, src: bytes, msg: m.AttenCharInd, now: float) -> list[Output]:
        rsp = m.AttenCharRsp(source_address=self.mac, run_id=self.run_id, result=0)
        out: list[Output] = [SendFrame(m.encode(rsp, src, self.mac))]
        self.evses[src] = round(sum(msg.aag) / len(msg.aag))
        if self.state is EvState.RESULTS and all(a is not None for a in self.evses.values()):
            out += self._choose(now)  # every EVSE that answered has reported
        return out

    def _choose(self, now: float) -> list[Output]:
        heard = {mac: a for mac, a in self.evses.items() if a is not None}
        if not heard:
            return self._fail("no CM_ATTEN_CHAR.IND within TT_EV_atten_results")
        best = min(heard, key=lambda mac: heard[mac])
        if heard[best] > self.config.max_attenuation_db:
            return self._fail(f"lowest attenuation {heard[best]} dB is above the limit")
        self.chosen = best
        self._sent = 0
        if self.config.validate_toggles > 0:
            self.state = EvState.VALIDATE
            return self._send_validate(now)
        self.state = EvState.MATCH
        return self._send_match(now)

    def _send_validate(self, now: float) -> list[Output]:
        assert self.chosen is not None
        self._sent += 1
        self._deadline = now + t.TT_MATCH_RESPONSE
        req = m.ValidateReq(signal_type=0, timer=0, result=m.VALIDATE_READY)  # step 1
        return [SendFrame(m.encode(req, self.chosen, self.mac))]

    def _on_validate_cnf(self, msg: m.ValidateCnf, now: float) -> list[Output]:
        if self.state is EvState.VALIDATE and msg.result == m.VALIDATE_NOT_REQUIRED:
            self.state, self._sent = EvState.MATCH, 0
            return self._send_match(now)
        if self.state is EvState.VALIDATE and msg.result == m.VALIDATE_READY:
            return self._start_toggling(now)
        if self.state is EvState.TOGGLING and msg.result == m.VALIDATE_SUCCESS:
            if self._toggles or msg.toggle_num != self.config.validate_toggles:
                return self._fail(f"CM_VALIDATE: the EVSE counted {msg.toggle_num} toggles, "
                                  f"we made {self.config.validate_toggles}")
            self.state, self._sent = EvState.MATCH, 0
            return self._send_match(now)
        if msg.result == m.VALIDATE_FAILURE and self.state in (EvState.VALIDATE,
                                                               EvState.TOGGLING):
            return self._fail("CM_VALIDATE: the EVSE answered failure")
        return []  # NOT_READY (another EV validates there): step 1 is sent again on time

    def _start_toggling(self, now: float) -> list[Output]:
        assert self.chosen is not None
        n = self.config.validate_toggles
        # The window holds the toggles and one state duration of slack, within
        # TT_EVSE_vald_toggle; Timer counts 100 ms steps from 0 (0x00 = 100 ms).
        window = min((2 * n + 1) * self.config.toggle_state_s, t.TT_EVSE_VALD_TOGGLE)
        timer = max(1, math.ceil(round(window / t.VALD_TIMER_UNIT, 6)) - 1)
        req = m.ValidateReq(signal_type=0, timer=timer, result=m.VALIDATE_READY)  # step 2
        self.state = EvState.TOGGLING
        self._deadline = now + (timer + 1) * t.VALD_TIMER_UNIT + t.TT_MATCH_RESPONSE
        self._toggles = ["C", "B"] * n
        out: list[Output] = [SendFrame(m.encode(req, self.chosen, self.mac))]
        return out + self._toggle(now)

    def _toggle(self, now: float) -> list[Output]:
        if not self._toggles:
            self._toggle_at = None
            return []
        self._pilot = self._toggles.pop(0)
        self._toggle_at = now + self.config.toggle_state_s if self._toggles else None
        return [PilotToggle(self._pilot)]

    def _send_match(self, now: float) -> list[Output]:
        assert self.chosen is not None
        self._sent += 1
        self._deadline = now + t.TT_MATCH_RESPONSE
        req = m.SlacMatchReq(pev_mac=self.mac, evse_mac=self.chosen, run_id=self.run_id,
                             pev_id=self.config.pev_id)
        return [SendFrame(m.encode(req, self.chosen, self.mac))]

    def _on_match_cnf(self, src: bytes, msg: m.SlacMatchCnf, now: float) -> list[Output]:
        self.state = EvState.JOINING
        self._deadline = now + self.config.match_join_timeout  # TT_match_join
        self._key = KeySetter(self.mac, self.config.modem_mac, msg.nmk, msg.nid)
        out: list[Output] = [Matched(src, msg.nid, msg.nmk, self.run_id)]
        return out + self._key.start(now)

    def _from_modem(self, msg: m.SetKeyCnf | m.LinkStatusCnf, now: float) -> list[Output]:
        if isinstance(msg, m.SetKeyCnf):
            if self._key is not None and self._key.on_confirm(msg):
                return self._poller.start(now)
            return []
        if self.state is EvState.JOINING and msg.link_status:
            self.state = EvState.LINKED
            self._deadline = None
            return [LinkUp()]
        return []

    def _timeout(self, now: float) -> list[Output]:
        self._deadline = None
        if self.state is EvState.PARM:
            if self._sent <= self.config.retries:
                return self._send_parm(now)
            return self._fail("no CM_SLAC_PARM.CNF after the retries")
        if self.state in (EvState.SOUNDING, EvState.RESULTS):
            self._to_send = []
            self._send_at = None
            return self._choose(now)
        if self.state is EvState.VALIDATE:
            if self._sent <= self.config.retries:
                return self._send_validate(now)
            return self._fail("no CM_VALIDATE.CNF after the retries")
        if self.state is EvState.TOGGLING:
            return self._fail("no CM_VALIDATE.CNF with the toggle count")
        if self.state is EvState.MATCH:
            if self._sent <= self.config.retries:
                return self._send_match(now)
            return self._fail("no CM_SLAC_MATCH.CNF after the retries")
        if self.state is EvState.JOINING:
            return self._fail("TT_match_join expired: no powerline link")
        return []

    def _fail(self, reason: str) -> list[Output]:
        self.state = EvState.FAILED
        self.failure = reason
        self._deadline = self._send_at = None
        self._poller.stop()
        self._toggles, self._toggle_at = [], None
        out: list[Output] = [PilotToggle("B")] if self._pilot == "C" else []  # S2 open again
        self._pilot = "B"
        return [*out, MatchFailed(reason)]
