"""The MCU's slower commands, beside the protection path: the connector lock (evse's
`connector_lock`), the RCD self-test at start, and the MCU's own trip thresholds.

The MCU's trip thresholds are a second line of defence: if hal hangs or dies mid-
excursion, the MCU opens the contactors by itself (docs/mcu-protocol.md `trip_settings`).
They are the outermost must-trip stages in force (the widest limits, so the MCU never
trips before hal does), pushed at start and whenever the controls in force change; a
failed push is retried with back-off, never every sample.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hal.config import EvseUnitConfig
from hal.devices.backoff import Backoff
from hal.devices.base import DeviceError, Mcu
from hal.grid.controls import Spec, TripControl
from hal.protocol import E_REJECTED, Ack, ConnectorLock, Error, Message

log = logging.getLogger("hal.unit")

_LOCK_QUEUE = 8
_SELFTEST_TRIP_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class McuTrip:
    oc_a: float
    v_min: float
    v_max: float
    f_min: float
    f_max: float
    t_ms: int


def mcu_trip_settings(
    controls: Mapping[str, Spec], nominal_v: float, nominal_hz: float, rated_a: float
) -> McuTrip:
    """The widest must-trip limits in force (V in volts, Hz), and the longest clearing
    time among those stages plus 100 ms: the MCU acts only after hal should have."""

    def stages(ct: str) -> list[tuple[float, float]]:
        spec = controls.get(ct)
        if not isinstance(spec, TripControl):
            return []
        return [(s.threshold, s.clearing_s) for s in spec.curve.stages]

    hv, lv, hf, lf = (stages(c) for c in ("HVMustTrip", "LVMustTrip", "HFMustTrip", "LFMustTrip"))
    picks = [max(hv)] if hv else []
    picks += [min(c) for c in (lv, lf) if c] + ([max(hf)] if hf else [])
    t_s = max((t for _, t in picks), default=0.2) + 0.1
    return McuTrip(
        oc_a=round(rated_a * 1.1, 1),
        v_min=min(lv)[0] / 100.0 * nominal_v if lv else 0.0,
        v_max=max(hv)[0] / 100.0 * nominal_v if hv else 2.0 * nominal_v,
        f_min=min(lf)[0] if lf else 0.0,
        f_max=max(hf)[0] if hf else 2.0 * nominal_hz,
        t_ms=round(t_s * 1000),
    )


def mcu_trip_for(
    unit: EvseUnitConfig, controls: Mapping[str, Spec], nominal_v: float, nominal_hz: float
) -> McuTrip:
    rated_a = max(unit.max_charge_w, unit.max_discharge_w) / (nominal_v * unit.phases)
    return mcu_trip_settings(controls, nominal_v, nominal_hz, rated_a)


class McuAux:
    def __init__(
        self,
        evse_id: int,
        mcu: Mcu,
        clock: Callable[[], float],
        trip: Callable[[], McuTrip],
        *,
        timeout_s: float,
    ) -> None:
        self._id = evse_id
        self.mcu = mcu
        self._clock = clock
        self._trip = trip
        self._timeout = timeout_s
        self._locks: asyncio.Queue[tuple[bool, Callable[[Message], None]]] = asyncio.Queue(
            _LOCK_QUEUE
        )
        self.trip_pushed: McuTrip | None = None
        self._backoff = Backoff(1.0, 2.0, 60.0)

    def request_lock(self, locked: bool, reply: Callable[[Message], None]) -> None:
        """Queue a lock request; `reply` gets the ack (MCU confirmed) or an error."""
        try:
            self._locks.put_nowait((locked, reply))
        except asyncio.QueueFull:
            why = "lock requests pending, try again"
            reply(Error(E_REJECTED, why, ConnectorLock.TYPE, self._id))

    async def rcd_selftest(self) -> str | None:
        """IEC 62955 / RCD self-test at start: the test current must trip the RCD; then it
        is reset. Returns why the test failed, or None."""
        try:
            await asyncio.wait_for(self.mcu.rcd_command("selftest"), self._timeout)
            tripped = await self._rcd_becomes(True)
            await asyncio.wait_for(self.mcu.rcd_command("reset"), self._timeout)
            await self._rcd_becomes(False)  # the status catches up before the first sample
        except DeviceError as exc:
            return f"self-test not run: {exc.reason}"
        except TimeoutError:
            return "self-test not run: the MCU did not answer"
        return None if tripped else "self-test failed: the RCD did not trip"

    async def _rcd_becomes(self, tripped: bool) -> bool:
        end = self._clock() + _SELFTEST_TRIP_WAIT_S
        while True:
            st = await asyncio.wait_for(self.mcu.read_state(), self._timeout)
            if st.rcd_tripped == tripped or self._clock() >= end:
                return st.rcd_tripped
            await asyncio.sleep(0.02)

    async def _push_trip(self) -> None:
        want = self._trip()
        now = self._clock()
        if want == self.trip_pushed or not self._backoff.due(now):
            return
        w = want
        try:
            await asyncio.wait_for(
                self.mcu.set_trip(w.oc_a, w.v_min, w.v_max, w.f_min, w.f_max, w.t_ms),
                self._timeout,
            )
        except (DeviceError, TimeoutError) as exc:
            self._backoff.failed(now)
            if self._backoff.failures == 1:
                log.warning("evse %d: MCU trip settings not taken: %s", self._id, exc)
            return
        self._backoff.succeeded()
        self.trip_pushed = want
        log.info("evse %d: MCU trip settings %s", self._id, want)

    async def _lock(self, locked: bool, reply: Callable[[Message], None]) -> None:
        try:
            await asyncio.wait_for(self.mcu.set_lock(locked), self._timeout)
        except DeviceError as exc:
            reply(Error(E_REJECTED, f"lock: {exc.reason}", ConnectorLock.TYPE, self._id))
        except TimeoutError:
            reply(Error(E_REJECTED, "lock: the MCU did not confirm", ConnectorLock.TYPE, self._id))
        else:
            reply(Ack(ConnectorLock.TYPE, self._id))

    async def run(self) -> None:
        while True:
            await self._push_trip()
            try:
                # asyncio.timeout: 3.11's wait_for can swallow a cancel at a get.
                async with asyncio.timeout(1.0):
                    locked, reply = await self._locks.get()
            except TimeoutError:
                continue
            await self._lock(locked, reply)
