"""Sans-IO core of the MCU link: sequence numbers, keep-alive schedule, link supervision.

`now` is always passed in (time.monotonic() in the adapter, a fake clock in tests). The
core never blocks and never raises on bad input: garbage on the line is counted and
reported as `FrameError` events, and the link is "up" while valid frames keep arriving
within `link_timeout_s`.
"""

from __future__ import annotations

from typing import Any

from hal.devices.mcu_link.frame import Event, FrameDecoder, FrameError, encode_frame
from hal.devices.mcu_link.messages import KEEPALIVE, Message


class McuLinkCore:
    def __init__(self, keepalive_interval_s: float, link_timeout_s: float, now: float) -> None:
        self.keepalive_interval_s = keepalive_interval_s
        self.link_timeout_s = link_timeout_s
        self._decoder = FrameDecoder()
        self._seq = 0
        self._last_ka_tx: float | None = None
        self.last_rx: float | None = None  # time of the last valid message
        self.opened_at = now
        self.errors: dict[str, int] = {}
        self.last_error: FrameError | None = None

    def reset(self, now: float) -> None:
        """Forget everything received: the port was reopened or the peer restarted."""
        self._decoder = FrameDecoder()
        self.last_rx = None
        self.opened_at = now
        self._last_ka_tx = None

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def command(self, kind: int, body: dict[str, Any], now: float) -> tuple[int, bytes]:
        seq = self._next_seq()
        # Every frame proves we are alive, so any command also counts as keep-alive.
        self._last_ka_tx = now
        return seq, encode_frame(kind, seq, body)

    def keepalive(self, now: float) -> bytes | None:
        """The keep-alive frame if one is due, else None (callers may call every cycle)."""
        if self._last_ka_tx is not None and now - self._last_ka_tx < self.keepalive_interval_s:
            return None
        return self.command(KEEPALIVE, {}, now)[1]

    def receive(self, data: bytes, now: float) -> list[Event]:
        events = self._decoder.feed(data)
        for ev in events:
            if isinstance(ev, Message):
                self.last_rx = now
            else:
                self.errors[ev.reason] = self.errors.get(ev.reason, 0) + 1
                self.last_error = ev
        return events

    def silence_s(self, now: float) -> float:
        return now - (self.last_rx if self.last_rx is not None else self.opened_at)

    def link_up(self, now: float) -> bool:
        return self.last_rx is not None and now - self.last_rx <= self.link_timeout_s

    def down_reason(self, now: float) -> str:
        """Why the link is down, for the fault event: silence plus the last line error."""
        reason = f"no valid frame for {self.silence_s(now):.2f} s"
        if self.last_error is not None:
            counts = ", ".join(f"{k} x{v}" for k, v in sorted(self.errors.items()))
            reason += f" (last error {self.last_error.reason}: {self.last_error.detail}; {counts})"
        return reason
