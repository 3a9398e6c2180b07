"""AFRRSignal (OCPP 2.1 Q08, automatic frequency restoration reserve): the CSMS sends a
signal value that becomes active at `timestamp`; the power is v2xBaseline + the signal
looked up in the v2xSignalWattCurve of the period in force (evse/energy/manager.py).

Rejected with reasonCode NoSignalWattCurve when no EVSE's period in force has a
signal-watt curve: the station could not act on it (Part 2 appendix, reason codes).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from evse.energy.period_source import PeriodSource
from evse.ocpp.endpoint import OcppCallError

_KEEP = 8  # signals waiting for their timestamp; a CSMS sends one per few seconds


class AfrrSignals:
    def __init__(self, source: object, evses: int, wall: Callable[[], datetime]) -> None:
        # The station implements PeriodSource once smart charging is in; until then no
        # period has a curve and every signal is rejected.
        self._source = source if isinstance(source, PeriodSource) else None
        self._evses = evses
        self._wall = wall  # signal timestamps are wall-clock times on the wire
        self._signals: list[tuple[datetime, int]] = []  # sorted by activation time

    def _has_curve(self) -> bool:
        src = self._source
        if src is None:
            return False
        for eid in range(1, self._evses + 1):
            period = src.current_period(eid)
            if period is not None and period.get("v2xSignalWattCurve"):
                return True
        return False

    async def on_afrr_signal(self, req: dict[str, Any]) -> dict[str, Any]:
        if not self._has_curve():
            return {"status": "Rejected", "statusInfo": {"reasonCode": "NoSignalWattCurve"}}
        try:
            at = datetime.fromisoformat(str(req["timestamp"]).replace("Z", "+00:00"))
        except ValueError:
            raise OcppCallError("FormatViolation", "timestamp: not a date-time") from None
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        self._signals.append((at, int(req["signal"])))
        self._signals.sort(key=lambda s: s[0])
        del self._signals[:-_KEEP]
        return {"status": "Accepted"}

    def signal_at(self, now_utc: datetime) -> int | None:
        """The signal in force at `now_utc`: the newest whose timestamp has come."""
        active = [s for at, s in self._signals if at <= now_utc]
        return active[-1] if active else None

    def signal_now(self) -> int | None:
        return self.signal_at(self._wall())
