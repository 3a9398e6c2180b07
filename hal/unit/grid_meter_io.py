"""The meter at the grid connection point (`[devices.grid_meter]`), for OCPP 2.1
LocalLoadBalancing (Q09): read in a task of its own, never on the protection path (the
grid loop waits on no meter), reported to evse as `grid_meter` every report period.

Faults are reported once each, as `fault` / `fault_cleared` events with evse_id 0 (the
station as a whole, as in OCPP) and device "grid-meter"; while the meter is in fault, not
read yet, or its last reading is older than `STALE_S`, the report says `valid: false`
and evse holds LocalLoadBalancing at zero.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hal.config import HalConfig
from hal.devices.base import EnergyMeter
from hal.protocol import Event, GridMeterReport, Message
from hal.unit.faults import FaultBook
from hal.unit.meter_io import METER_PERIOD_S, MeterIo

STATION = 0  # evse_id of events about the station as a whole
STALE_S = 3 * METER_PERIOD_S  # a reading older than this is no reading


class GridMeterIo:
    def __init__(
        self,
        meter: EnergyMeter,
        publish: Callable[[Message], None],
        clock: Callable[[], float],
        *,
        timeout_s: float,
        report_period_s: float,
    ) -> None:
        self.io = MeterIo(meter, clock, timeout_s=timeout_s)
        self._publish = publish
        self._clock = clock
        self._period = report_period_s
        self.faults = FaultBook(STATION, lambda kind, data: publish(Event(STATION, kind, data)))
        self.seq = 0  # +1 per successful reading
        self._read_at = float("-inf")

    async def read_once(self) -> None:
        before = self.io.reading
        await self.io.step()
        now = self._clock()
        if self.io.error is None and self.io.reading is not before:
            self.seq += 1
            self._read_at = now
        self.faults.update(self.io.meter.name, self.io.error, now)

    def report(self) -> GridMeterReport:
        r = self.io.reading
        fresh = self._clock() - self._read_at <= STALE_S
        return GridMeterReport(
            active_w=list(r.active_w) if r else [],
            total_w=r.total_w if r else 0.0,
            import_wh=r.import_wh if r else 0.0,
            export_wh=r.export_wh if r else 0.0,
            valid=r is not None and self.io.error is None and fresh,
            seq=self.seq,
        )

    async def _read_loop(self) -> None:
        while True:
            await self.read_once()
            await asyncio.sleep(METER_PERIOD_S)

    async def _report_loop(self) -> None:
        while True:
            self._publish(self.report())
            await asyncio.sleep(self._period)

    async def run(self) -> None:
        """Both loops; a read that hangs delays no report (it turns `valid` false)."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._read_loop(), name="grid-meter-read")
            tg.create_task(self._report_loop(), name="grid-meter-report")


def grid_meter_tasks(
    cfg: HalConfig,
    meter: EnergyMeter | None,
    publish: Callable[[Message], None],
    clock: Callable[[], float],
) -> list[asyncio.Task[None]]:
    """The grid meter's task for the daemon to supervise (none without a grid meter)."""
    if meter is None:
        return []
    io = GridMeterIo(
        meter,
        publish,
        clock,
        timeout_s=cfg.devices.command_timeout_s,
        report_period_s=cfg.report_period_s,
    )
    return [asyncio.create_task(io.run(), name="grid-meter")]
