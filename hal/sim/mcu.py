"""A simulated MCU with a simulated EV on its control pilot.

The EV plugs in at a scripted time (state B) or when the control socket says so,
closes S2 (state C) once the EVSE generates PWM, and the MCU closes the contactor on
request only in C/D, confirming after a mechanical delay. Like a real MCU it opens the
contactor by itself when the pilot leaves C/D or when hal's keep-alive stops.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.devices.base import CpState, GridSample, McuState


@dataclass(frozen=True, slots=True)
class McuModel:
    plug_in_at_s: float | None  # None: no EV ever plugs in
    unplug_at_s: float | None
    pp_ampacity_a: float
    contactor_delay_s: float
    keepalive_timeout_s: float


class SimMcu:
    def __init__(self, model: McuModel, now: float, start: float | None = None) -> None:
        self.model = model
        self._start = now if start is None else start  # the scripted timeline's zero
        # The control socket's word on the plug (hal/sim/control.py): None = the script's.
        self.plugged_override: bool | None = None
        self.pp_override_a: float | None = None
        self.pwm_duty_pct = 100.0  # X1: +12 V DC, no PWM yet
        self.cp_state = CpState.A
        self.contactor_requested = False
        self.contactor_closed = False
        self._close_at: float | None = None
        self.last_keepalive = now
        self.errors: set[str] = set()
        self.rcd_tripped = False
        self.ev_wants_power = True
        self.grid: GridSample | None = None
        self.welded = False  # fault injection: the contactor stays closed whatever we ask
        self.rcd_selftest_fails = False  # fault injection: the RCD does not trip on test
        self.locked = False
        self.open_reasons: list[str] = []  # why hal asked to open, in order (for tests)

    def set_pwm(self, duty_pct: float, now: float) -> None:
        self.pwm_duty_pct = min(max(duty_pct, 0.0), 100.0)
        self.advance(now, self.grid)

    def request_contactor(self, closed: bool, now: float) -> None:
        self.contactor_requested = closed
        self.advance(now, self.grid)

    def rcd_command(self, cmd: str) -> None:
        # The self-test injects a test current: a working RCD trips (latched until reset).
        self.rcd_tripped = cmd == "selftest" and not self.rcd_selftest_fails

    def keepalive(self, now: float) -> None:
        self.last_keepalive = now

    def plugged_at(self, now: float) -> bool:
        return self._plugged(now - self._start)

    def _plugged(self, t: float) -> bool:
        if self.plugged_override is not None:
            return self.plugged_override
        m = self.model
        if m.plug_in_at_s is None or t < m.plug_in_at_s:
            return False
        return m.unplug_at_s is None or t < m.unplug_at_s

    def advance(self, now: float, grid: GridSample | None) -> None:
        self.grid = grid
        t = now - self._start
        if self.pwm_duty_pct <= 0.0:
            self.cp_state = CpState.F
        elif not self._plugged(t):
            self.cp_state = CpState.A
        elif 3.0 <= self.pwm_duty_pct <= 97.0 and self.ev_wants_power:
            self.cp_state = CpState.C
        else:
            self.cp_state = CpState.B
        keepalive_ok = now - self.last_keepalive <= self.model.keepalive_timeout_s
        if not keepalive_ok:
            # As a real MCU does: opened on keep-alive loss, the contactor stays open
            # until hal asks again (never re-closed by a link that comes back).
            self.contactor_requested = False
        may_close = (
            self.contactor_requested
            and keepalive_ok
            and self.cp_state in (CpState.C, CpState.D)
            and not self.errors
            and not self.rcd_tripped
        )
        if self.welded:
            self.contactor_closed = True  # welded: the mirror contact stays closed
        elif not may_close:
            self.contactor_closed = False
            self._close_at = None
        elif not self.contactor_closed:
            if self._close_at is None:
                self._close_at = now + self.model.contactor_delay_s
            if now >= self._close_at:
                self.contactor_closed = True

    @property
    def pp_ampacity_a(self) -> float:
        return self.model.pp_ampacity_a if self.pp_override_a is None else self.pp_override_a

    def state(self) -> McuState:
        plugged = self.cp_state not in (CpState.A, CpState.F)
        return McuState(
            cp_state=self.cp_state,
            pwm_duty_pct=self.pwm_duty_pct,
            pp_ampacity_a=self.pp_ampacity_a if plugged else None,
            contactor_closed=self.contactor_closed,
            rcd_tripped=self.rcd_tripped,
            errors=frozenset(self.errors),
            grid=self.grid,
        )
