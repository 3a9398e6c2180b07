"""The EMS input per EVSE with its expiry, pure (`now` = time.monotonic() passed in).
It is the controller's `EmsSource`: the energy manager asks it on every decision, and an
expired input is gone, so the manager falls back to the next source as if the EMS had
gone (issue 14; Q05/Q06 keep the CSMS's limits around whatever the EMS asks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from evse.energy.operation_modes import EmsInput


@runtime_checkable
class EmsSource(Protocol):
    """What the controller asks, like its period_source / signal_source."""

    def ems_input(self, evse_id: int, now: float) -> EmsInput | None: ...


@dataclass(frozen=True, slots=True)
class _Held:
    value: EmsInput
    expires_at: float


class EmsInputs:
    def __init__(self) -> None:
        self._held: dict[int, _Held] = {}

    def set(self, evse_id: int, value: EmsInput, now: float, expires_in_s: float) -> None:
        self._held[evse_id] = _Held(value, now + expires_in_s)

    def clear(self, evse_id: int) -> None:
        self._held.pop(evse_id, None)

    def ems_input(self, evse_id: int, now: float) -> EmsInput | None:
        held = self._held.get(evse_id)
        if held is None:
            return None
        if now >= held.expires_at:
            del self._held[evse_id]  # expired: gone for good, a fresh command must come
            return None
        return held.value

    def expires_in(self, evse_id: int, now: float) -> float | None:
        held = self._held.get(evse_id)
        return None if held is None else max(0.0, held.expires_at - now)
