"""The pilot / session coordinator of one EVSE: a pure state machine that owns a
plug-in's life (events in, actions out, `now` passed in; no I/O, no awaits).

    A (idle) --B/C/D--> matching --Matched--> matched --LinkUp--> iso15118 (SECC runs)
                           | MatchFailed / no match in time
                           v
                 retry: state F for T_step_EF, then matching again (ISO 15118-3)
                           | retries used up
                           v
          basic (IEC 61851-1 PWM from the allowed current)  or  failed (X1, no charge)
    E/F from the EV -> fault; A (unplug) -> idle: SECC stopped, SLAC dropped, power off.
    hal gone -> hal_lost: all ended, power off, nothing assumed of the pilot; hal back ->
    retry_f: a clean restart of the plug-in through state F (ISO 15118-3).

Power-on (the contactor) is this machine's gate, ANDed with the OCPP / MQTT permission
by the controller: in an ISO 15118 session only between PowerDelivery Start and Stop
(ISO 15118-20 8.3.4.5: energy flows after PowerDelivery Start); in basic charging only in
C/D with a current offered (IEC 61851-1 Annex A: the EV closes its S2 to ask for power).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evse.slac.events import LinkDown, LinkUp, MatchDropped, Matched, MatchFailed
from evse.station.pilot_duty import DIGITAL_PCT, STATE_F_PCT, X1_PCT, duty_for_current

SlacEvent = Matched | MatchFailed | LinkUp | LinkDown | MatchDropped
_PLUGGED = frozenset({"B", "C", "D"})
_CHARGING = frozenset({"C", "D"})  # IEC 61851-1: the EV asks for energy (S2 closed)


@dataclass(frozen=True, slots=True)
class CoordinatorConfig:
    slac: bool = True  # a PLC modem: ISO 15118 via SLAC; False: basic charging only
    basic_fallback: bool = True  # [slac] basic_fallback
    match_timeout_s: float = 50.0  # B with 5 % -> data link up, per attempt
    retries: int = 1  # ISO 15118-3: further attempts after a failed match
    ef_step_s: float = 4.0  # T_step_EF: the pilot in F before a retry


class Phase(enum.Enum):
    IDLE = "idle"
    MATCHING = "matching"
    MATCHED = "matched"
    ISO = "iso15118"
    RETRY_F = "retry_f"
    BASIC = "basic"
    FAILED = "failed"
    FAULT = "fault"
    HAL_LOST = "hal_lost"


@dataclass(frozen=True, slots=True)
class SetDuty:
    duty_pct: float


@dataclass(frozen=True, slots=True)
class PowerGate:
    on: bool
    reason: str


@dataclass(frozen=True, slots=True)
class StartSlac:
    pass


@dataclass(frozen=True, slots=True)
class StopSlac:
    reason: str


@dataclass(frozen=True, slots=True)
class StartSecc:
    pass


@dataclass(frozen=True, slots=True)
class StopSecc:
    reason: str


Action = SetDuty | PowerGate | StartSlac | StopSlac | StartSecc | StopSecc


class Coordinator:
    def __init__(self, config: CoordinatorConfig) -> None:
        self.cfg = config
        self.phase = Phase.IDLE
        self.pilot = "A"
        self.duty_pct = self._idle_duty()
        self.gate = False
        self.current_a = 0.0  # the energy manager's request as a current (basic)
        self.energy_transfer = False  # the SECC's PowerDelivery Start .. Stop
        self.retries_left = config.retries
        self.deadline: float | None = None
        self.reason = ""  # why the last session / attempt ended

    @property
    def session(self) -> str:
        """The API's `session` field: iso15118 / basic / none."""
        return {Phase.ISO: "iso15118", Phase.BASIC: "basic"}.get(self.phase, "none")

    # ---- inputs -------------------------------------------------------------------------

    def on_pilot(self, state: str, now: float) -> list[Action]:
        prev, self.pilot = self.pilot, state
        if self.phase is Phase.HAL_LOST:
            return []  # hal's return decides (on_hal_back), not a pilot from before it
        if state == "A":
            return self._end("unplugged (pilot A)") if self.phase is not Phase.IDLE else []
        if state in ("E", "F"):
            if self.phase in (Phase.RETRY_F, Phase.FAULT, Phase.IDLE):
                return []  # our own F step, or nothing running
            out = self._end(f"pilot state {state}")
            self.phase = Phase.FAULT  # power off until the EV is back in B/C/D
            return out
        if state not in _PLUGGED:
            return []
        if self.phase in (Phase.IDLE, Phase.FAULT):
            return self._plug_in(now)
        if self.phase is Phase.BASIC:
            return self._basic_gate()
        if prev != state and self.phase is Phase.ISO and self.energy_transfer:
            return self._set_gate(state in _CHARGING, "ISO 15118: pilot " + state)
        return []

    def on_slac(self, event: SlacEvent, now: float) -> list[Action]:
        if isinstance(event, Matched) and self.phase is Phase.MATCHING:
            self.phase = Phase.MATCHED
            return []
        if isinstance(event, LinkUp) and self.phase in (Phase.MATCHING, Phase.MATCHED):
            self.phase = Phase.ISO  # ISO 15118-3: the data link is up, the SECC may start
            self.deadline = None
            return [StartSecc()]
        if isinstance(event, (MatchFailed, MatchDropped)) and self.phase in (
            Phase.MATCHING, Phase.MATCHED, Phase.ISO
        ):
            return self._match_failed(event.reason, now)
        return []  # LinkDown: the SLAC machine gives the EV TT_match_join to come back

    def on_secc_ended(self, reason: str, now: float) -> list[Action]:
        """The SECC session is over (the EV stays plugged in: nothing restarts it)."""
        if self.phase is not Phase.ISO:
            return []
        self.energy_transfer = False
        self.reason = f"ISO 15118 session ended: {reason}"
        return self._set_gate(False, self.reason)

    def on_energy_transfer(self, on: bool, now: float) -> list[Action]:
        """ISO 15118-20 PowerDelivery Start (on) / Stop or Standby (off)."""
        if self.phase is not Phase.ISO:
            return []
        self.energy_transfer = on
        return self._set_gate(on, "ISO 15118 PowerDelivery " + ("Start" if on else "Stop"))

    def on_hal_lost(self, now: float) -> list[Action]:
        """The link to hal is gone (hal restarting, or the link lost): the pilot, the
        contactor and the EV are unknown, so the session ends and power stays off; the
        duty waiting for the next hal is state F, so a car still plugged never sees 5 %
        from a session that no longer exists."""
        out = self._end("hal link lost", STATE_F_PCT)
        self.phase = Phase.HAL_LOST
        self.pilot = "?"  # unknown until the next hal reports it
        return out

    def on_hal_back(self, now: float) -> list[Action]:
        """hal is there again: a clean restart of the plug-in. ISO 15118-3 lets the EVSE
        retry through E/F: the pilot stays in F for T_step_EF, then B with 5 % starts
        matching afresh (a new session, a new PowerDelivery before any power)."""
        if self.phase is not Phase.HAL_LOST:
            return []
        self.retries_left = self.cfg.retries  # a fresh plug-in, not a failed attempt
        self.reason = "hal restarted"
        self.phase = Phase.RETRY_F
        self.deadline = now + self.cfg.ef_step_s
        return self._set_gate(False, "hal restarted") + self._set_duty(STATE_F_PCT)

    def on_current(self, amps: float, now: float) -> list[Action]:
        """The allowed current (energy manager's request converted): basic's PWM."""
        self.current_a = amps
        if self.phase is not Phase.BASIC:
            return []
        return self._basic_duty() + self._basic_gate()

    def tick(self, now: float) -> list[Action]:
        if self.deadline is None or now < self.deadline:
            return []
        self.deadline = None
        if self.phase in (Phase.MATCHING, Phase.MATCHED):
            return self._match_failed("no data link within the match timeout", now)
        if self.phase is Phase.RETRY_F:
            if self.pilot in _PLUGGED or self.pilot in ("E", "F"):
                if not self.cfg.slac:  # after a hal restart: basic charging again
                    return self._start_basic("hal restarted")
                return self._start_matching(now)  # F was ours: the EV is still there
            return self._end("unplugged during the retry")
        return []

    # ---- internals ----------------------------------------------------------------------

    def _idle_duty(self) -> float:
        # ISO 15118-3: 5 % from plug-in, so the EV starts SLAC at once; basic-only: X1
        # until an EV is there (IEC 61851-1 state A / B1).
        return DIGITAL_PCT if self.cfg.slac else X1_PCT

    def _plug_in(self, now: float) -> list[Action]:
        self.retries_left = self.cfg.retries
        self.reason = ""
        if self.cfg.slac:
            return self._start_matching(now)
        return self._start_basic("no PLC modem configured")

    def _start_matching(self, now: float) -> list[Action]:
        self.phase = Phase.MATCHING
        self.deadline = now + self.cfg.match_timeout_s
        return [*self._set_duty(DIGITAL_PCT), StartSlac()]  # IEC 61851-1: B with 5 %

    def _match_failed(self, reason: str, now: float) -> list[Action]:
        self.reason = reason
        out: list[Action] = []
        if self.phase is Phase.ISO:
            out += [StopSecc(reason)]
            self.energy_transfer = False
        out += [*self._set_gate(False, reason), StopSlac(reason)]
        if self.retries_left > 0:
            # ISO 15118-3: a retry after a failed match goes through E/F (T_step_EF) so
            # the EV restarts its communication.
            self.retries_left -= 1
            self.phase = Phase.RETRY_F
            self.deadline = now + self.cfg.ef_step_s
            return out + self._set_duty(STATE_F_PCT)
        if self.cfg.basic_fallback:
            return out + self._start_basic(reason)
        self.phase = Phase.FAILED  # X1: no charging offered until unplug
        self.deadline = None
        return out + self._set_duty(X1_PCT)

    def _start_basic(self, reason: str) -> list[Action]:
        self.phase = Phase.BASIC
        self.deadline = None
        self.reason = reason
        return self._basic_duty() + self._basic_gate()

    def _basic_duty(self) -> list[Action]:
        return self._set_duty(duty_for_current(self.current_a))

    def _basic_gate(self) -> list[Action]:
        # IEC 61851-1: power on in C/D only, and only while a current is offered (PWM).
        offered = self.duty_pct < X1_PCT
        return self._set_gate(offered and self.pilot in _CHARGING, "basic charging")

    def _end(self, reason: str, duty: float | None = None) -> list[Action]:
        was = self.phase
        self.reason = reason
        self.phase = Phase.IDLE
        self.deadline = None
        self.energy_transfer = False
        out: list[Action] = self._set_gate(False, reason)  # power off first
        if was is Phase.ISO:
            out.append(StopSecc(reason))
        if was in (Phase.MATCHING, Phase.MATCHED, Phase.ISO):
            out.append(StopSlac(reason))
        return out + self._set_duty(self._idle_duty() if duty is None else duty)

    def _set_duty(self, duty: float) -> list[Action]:
        if duty == self.duty_pct:
            return []
        self.duty_pct = duty
        return [SetDuty(duty)]

    def _set_gate(self, on: bool, reason: str) -> list[Action]:
        if on == self.gate:
            return []
        self.gate = on
        return [PowerGate(on, reason)]
