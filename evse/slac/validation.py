"""CM_VALIDATE on the EVSE side (ISO 15118-3 9.4): the EV proves it is on our pilot wire
by toggling its pilot B -> C -> B (a BCB toggle) 1-3 times; we count the toggles through
hal's pilot events and answer with the count (sans-IO, time passed in).

Two request/confirm steps, told apart by the REQ's Timer field:
- step 1 (Timer 0): we answer READY (or NOT_READY while another EV is validating on our
  pilot) and wait TT_match_sequence for step 2;
- step 2 (Timer n, Result READY): the EV toggles within (n + 1) x 100 ms, at most
  TT_EVSE_vald_toggle; when that window has passed we answer SUCCESS with the toggles
  counted. A step 2 whose Result is not READY is the EV giving up: no answer.

Toggles are counted from step 1 on: the EV toggles only after step 2, but its first
B -> C edge may reach us through hal before the step-2 frame does.
"""

from __future__ import annotations

from evse.slac import messages as m
from evse.slac import timers as t


class EvseValidation:
    def __init__(self) -> None:
        self.owner: bytes | None = None  # the EV validating on our pilot now
        self.deadline: float | None = None
        self.toggles = 0
        self.in_window = False  # step 2 received: counting until `deadline`
        self._pilot = "B"

    def on_request(self, src: bytes, req: m.ValidateReq, now: float) -> m.ValidateCnf | None:
        if req.signal_type != 0:  # only "EV S2 toggles on the pilot" is defined
            return None
        if req.timer == 0:
            if self.owner is not None and self.owner != src:
                return m.ValidateCnf(result=m.VALIDATE_NOT_READY, signal_type=0)
            self.owner = src
            self.in_window = False
            self.toggles = 0
            self.deadline = now + t.TT_MATCH_SEQUENCE  # step 2 due within TT_match_sequence
            return m.ValidateCnf(result=m.VALIDATE_READY, signal_type=0)
        if src != self.owner or self.in_window:
            return None
        if req.result != m.VALIDATE_READY:
            self.reset()  # the EV ends the validation
            return None
        window = min((req.timer + 1) * t.VALD_TIMER_UNIT, t.TT_EVSE_VALD_TOGGLE)
        self.in_window = True
        self.deadline = now + window
        return None

    def pilot(self, state: str) -> None:
        """hal's pilot state (B, C, ...): a B -> C edge during a validation is a toggle."""
        if self.owner is not None and self._pilot == "B" and state == "C":
            self.toggles += 1
        self._pilot = state

    def tick(self, now: float) -> tuple[bytes, m.ValidateCnf] | None:
        """At the end of the window: (EV, CNF with the count); step 2 never came: ends."""
        if self.deadline is None or now < self.deadline:
            return None
        owner, counted, done = self.owner, self.toggles, self.in_window
        self.reset()
        if not done or owner is None:
            return None
        return owner, m.ValidateCnf(result=m.VALIDATE_SUCCESS, signal_type=0,
                                    toggle_num=min(counted, 255))

    def reset(self) -> None:
        self.owner = None
        self.deadline = None
        self.toggles = 0
        self.in_window = False
