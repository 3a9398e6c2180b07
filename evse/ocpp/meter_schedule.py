"""When meter values are due (J01 sampled during a transaction, J02 clock-aligned): one
loop that sleeps until the next due time or until the transactions change."""

from __future__ import annotations

import asyncio

from evse.ocpp.clock import Clock, wait_for
from evse.ocpp.device_model import DeviceModel
from evse.ocpp.meter_values import next_aligned
from evse.ocpp.queue import MessageQueue
from evse.ocpp.transactions import Transactions


async def meter_schedule(
    dm: DeviceModel, tx: Transactions, queue: MessageQueue, clock: Clock, wake: asyncio.Event
) -> None:
    aligned_due: float | None = None
    while True:
        interval = dm.get_int("AlignedDataCtrlr", "Interval")
        enabled = dm.get_bool("AlignedDataCtrlr", "Enabled") and interval > 0
        if enabled and aligned_due is None:
            wait = next_aligned(clock.wall().timestamp(), interval)
            aligned_due = clock.monotonic() + wait
        elif not enabled:
            aligned_due = None
        dues = [d for d in (tx.next_due(), aligned_due) if d is not None]
        wake.clear()
        if dues:
            delay = min(dues) - clock.monotonic()
            if delay > 0:
                try:
                    await wait_for(clock, wake.wait(), delay)
                    continue
                except TimeoutError:
                    pass
        else:
            await wake.wait()
            continue
        tx.sample_due()
        await tx.expire_connect()
        if aligned_due is not None and aligned_due <= clock.monotonic():
            aligned_due = None
            for payload in tx.aligned():
                queue.push("MeterValues", payload)
