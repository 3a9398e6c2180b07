"""Reconnect back-off of OCPP-J 5.4 (RetryBackOffWaitMinimum / RandomRange / RepeatTimes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from evse.ocpp.clock import Clock

log = logging.getLogger(__name__)


@dataclass
class ReconnectBackoff:
    """First wait = WaitMinimum + rand(0..RandomRange); each failure doubles the base,
    at most RepeatTimes times, and every attempt adds a fresh random part (OCPP-J 5.4)."""

    wait_minimum: float
    random_range: float
    repeat_times: int
    rng: random.Random = field(default_factory=random.Random)
    _failures: int = 0

    def next_delay(self) -> float:
        doublings = min(self._failures, self.repeat_times)
        self._failures += 1
        base = self.wait_minimum * float(1 << doublings)
        return base + self.rng.uniform(0.0, self.random_range)

    def reset(self) -> None:
        self._failures = 0

    def next_from(self, get_int: Callable[[str, str], int]) -> float:
        """The next delay with the RetryBackOff* values as they are now (OCPP-J 5.4,
        read from the device model each time); unreadable ones keep the previous."""
        try:
            self.wait_minimum = get_int("OCPPCommCtrlr", "RetryBackOffWaitMinimum")
            self.random_range = get_int("OCPPCommCtrlr", "RetryBackOffRandomRange")
            self.repeat_times = get_int("OCPPCommCtrlr", "RetryBackOffRepeatTimes")
        except (KeyError, ValueError, OverflowError):
            log.exception("RetryBackOff* unreadable; keeping the previous values")
        return self.next_delay()

    @property
    def failures(self) -> int:
        return self._failures


async def tcp_reachable(url: str, limit_s: float) -> bool:
    """Does the CSMS's host accept a TCP connection now? (No WebSocket, no TLS.)"""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "wss" else 80)
    except ValueError:
        return False
    if not parts.hostname:
        return False
    try:
        async with asyncio.timeout(limit_s):
            _, writer = await asyncio.open_connection(parts.hostname, port)
    except (OSError, TimeoutError, ValueError):  # ValueError: a name IDNA cannot encode
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def wait_backoff(
    clock: Clock,
    delay: float,
    probe_interval: float,
    url: str,
    probe: Callable[[str, float], Awaitable[bool]] = tcp_reachable,
) -> bool:
    """Sleep `delay` (the OCPP-J 5.4 back-off). With `probe_interval` > 0 and a longer
    delay, look every `probe_interval` whether the CSMS's host takes TCP connections: when
    it did not and now does (the network or the CSMS came back), stop waiting and return
    True, so the station retries at once instead of up to ~170 s later. A host that was
    reachable all along (the CSMS refuses us) never shortens the wait."""
    if probe_interval <= 0 or delay <= probe_interval:
        await clock.sleep(delay)
        return False
    deadline = clock.monotonic() + delay
    was_down = not await probe(url, min(probe_interval, 5.0))
    while True:
        left = deadline - clock.monotonic()
        if left <= 0:
            return False
        await clock.sleep(min(probe_interval, left))
        if deadline - clock.monotonic() <= 0:
            return False
        up = await probe(url, min(probe_interval, 5.0))
        if up and was_down:
            return True
        was_down = was_down or not up
