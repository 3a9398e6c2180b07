"""The faults in force on one EVSE: raised and cleared by name, each reported once.

A device that stays down must not log or report every sample: `set` reports a fault
once when it appears (with its first reason), `clear` once when it goes; while it stays,
a reminder goes to the log at most every `REMINDER_S`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("hal.unit")

REMINDER_S = 300.0


class FaultBook:
    def __init__(self, evse_id: int, event: Callable[[str, dict[str, object]], None]) -> None:
        self._id = evse_id
        self._event = event
        self.active: dict[str, str] = {}  # device -> reason (as first reported)
        self._since: dict[str, float] = {}
        self._reminded: dict[str, float] = {}

    def set(self, device: str, reason: str, now: float) -> None:
        if device not in self.active:
            self.active[device] = reason
            self._since[device] = now
            self._reminded[device] = now
            log.error("evse %d: fault %s: %s", self._id, device, reason)
            self._event("fault", {"device": device, "reason": reason})
        elif now - self._reminded[device] >= REMINDER_S:
            self._reminded[device] = now
            log.error(
                "evse %d: fault %s still present after %.0f s: %s",
                self._id,
                device,
                now - self._since[device],
                reason,
            )

    def clear(self, device: str, now: float) -> None:
        if self.active.pop(device, None) is not None:
            since = self._since.pop(device, now)
            self._reminded.pop(device, None)
            log.warning("evse %d: fault %s cleared after %.1f s", self._id, device, now - since)
            self._event("fault_cleared", {"device": device})

    def update(self, device: str, reason: str | None, now: float) -> None:
        if reason is None:
            self.clear(device, now)
        else:
            self.set(device, reason, now)

    def any(self, exclude: tuple[str, ...] = ()) -> bool:
        return any(d not in exclude for d in self.active)

    def report(self) -> list[dict[str, str]]:
        return [{"device": d, "reason": r} for d, r in self.active.items()]
