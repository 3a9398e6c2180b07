"""When a status topic is published, pure (time passed in): at once when a discrete
field changed, within `min_interval_s` when only measured values moved, and at least
every `period_s` in any case (the issue: "on change and at least every status_period_s").
After a (re)connect everything goes out again (`reset`)."""

from __future__ import annotations

from dataclasses import dataclass

from evse.api.status import StatusPayload


@dataclass(slots=True)
class _Sent:
    discrete: str
    measured: str
    at: float


class StatusGate:
    def __init__(self, period_s: float, min_interval_s: float) -> None:
        self.period_s = period_s
        self.min_interval_s = min_interval_s
        self._sent: dict[str, _Sent] = {}

    def reset(self) -> None:
        self._sent.clear()

    def due(self, p: StatusPayload, now: float) -> bool:
        """True when `p` should be published now (and then it counts as sent)."""
        last = self._sent.get(p.topic)
        if last is None or p.discrete != last.discrete or now - last.at >= self.period_s:
            go = True
        else:
            go = p.measured != last.measured and now - last.at >= self.min_interval_s
        if go:
            self._sent[p.topic] = _Sent(p.discrete, p.measured, now)
        return go
