"""The meter's own task: one read about every second (meters refresh their registers
that slowly). Energy only: protection uses the MCU's fast grid measurement, so a hung
meter delays nothing but the energy registers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hal.devices.base import DeviceError, EnergyMeter, MeterReading

METER_PERIOD_S = 1.0


class MeterIo:
    def __init__(self, meter: EnergyMeter, clock: Callable[[], float], *, timeout_s: float) -> None:
        self.meter = meter
        self._clock = clock
        self._timeout = timeout_s
        self.reading: MeterReading | None = None  # None until read once since start
        self.error: str | None = None

    async def step(self) -> None:
        try:
            self.reading = await asyncio.wait_for(self.meter.read(), self._timeout)
            self.error = None
        except DeviceError as exc:
            self.error = exc.reason
        except TimeoutError:
            self.error = f"no answer within {self._timeout:.3f} s"

    async def run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(METER_PERIOD_S)
