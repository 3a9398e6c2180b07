"""Contactor feedback supervision: the command against the mirror contact.

IEC 61851-1 asks the EVSE to confirm the supply switching device by its feedback and to
treat a welded contactor as a fault (power zero, pilot to state F). A disagreement is
judged only after `confirm_s` (the mechanics take a moment). Welded (commanded open,
mirror closed) holds while the mirror says closed; stuck open (commanded closed, mirror
open while the MCU has no reason to open) is latched until evse allows power again, so
hal does not chatter the contactor.
"""

from __future__ import annotations

from hal.devices.base import CpState, McuState

POWER_CP_STATES = (CpState.C, CpState.D)


class ContactorWatch:
    def __init__(self, confirm_s: float) -> None:
        self.confirm_s = confirm_s
        self._since: float | None = None
        self._welded: str | None = None
        self._stuck: str | None = None
        self._reasserted = False
        self._reassert = False  # the loop is to send the close command once more

    def rearm(self) -> None:
        """evse allows power again: a stuck-open contactor may be tried again."""
        self._stuck = None
        self._reasserted = False

    def take_reassert(self) -> bool:
        """True once after `check` decided to ask the MCU again."""
        ask, self._reassert = self._reassert, False
        return ask

    def check(self, now: float, cmd: bool | None, mcu: McuState) -> str | None:
        """The contactor fault in force (reason), or None."""
        disagree = cmd is not None and mcu.contactor_closed != cmd
        if cmd is True and (mcu.cp_state not in POWER_CP_STATES or mcu.errors or mcu.rcd_tripped):
            disagree = False  # the MCU opens by itself then: not a contactor fault
        if not disagree:
            self._since = None
            if not mcu.contactor_closed:
                self._welded = None
            elif cmd is True:
                self._reasserted = False  # closed as asked: a later opening gets a retry
        else:
            if self._since is None:
                self._since = now
            held = now - self._since
            if held >= self.confirm_s:
                if cmd is False:
                    self._welded = f"welded: commanded open, mirror closed for {held:.2f} s"
                elif not self._reasserted:
                    # The MCU opens by itself on keep-alive loss and closes again only on
                    # a new command (docs/mcu-protocol.md, behaviour 1): ask once more
                    # before calling the contactor stuck.
                    self._reasserted = True
                    self._reassert = True
                    self._since = None
                else:
                    self._stuck = f"stuck open: commanded closed, mirror open for {held:.2f} s"
        return self._welded or self._stuck
