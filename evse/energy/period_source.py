"""Where the energy manager gets the charging-schedule period in force for an EVSE (the
smart-charging block implements it on OcppStation)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from evse.energy.types import SchedulePeriod


@runtime_checkable
class PeriodSource(Protocol):
    def current_period(self, evse_id: int) -> SchedulePeriod | None: ...


class SignalSource(Protocol):
    """The aFRR signal in force (OCPP 2.1 Q08 AFRRSignal), None before the first."""

    def signal_now(self) -> int | None: ...
