"""An OcppStation in its own process, for the kill -9 test.

Keeps one transaction running and writes a TransactionEvent Updated every few ms (the
real persistence path), until killed. With --finish it unplugs, waits until every
queued message is delivered, prints DONE and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[3]))  # ocpp_support uses tests.conftest

from ocpp_support import StationSide, config

from evse.ocpp.interfaces import EvPlugged, EvUnplugged
from evse.ocpp.station import OcppStation


async def main(port: int, db: Path, finish: bool) -> int:
    side = StationSide()
    cfg = config(
        port,
        variables={
            "TxCtrlr.TxStartPoint": "EVConnected",
            "TxCtrlr.TxStopPoint": "EVConnected",
            "TxCtrlr.TxResumptionTimeout": 3600,
            "SampledDataCtrlr.TxUpdatedInterval": 0,
            "AlignedDataCtrlr.Interval": 0,
            "OCPPCommCtrlr.RetryBackOffWaitMinimum": 0,
            "OCPPCommCtrlr.RetryBackOffRandomRange": 0,
        },
        message_timeout=2.0,
    )
    station = OcppStation(cfg, db, side)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(station.run())
        await asyncio.sleep(0.01)  # run() resumes an open transaction first
        if not station.tx.active():
            station.notify(EvPlugged(1))
        if finish:
            await asyncio.sleep(0.05)
            station.notify(EvUnplugged(1))
            while station.tx.active() or len(station.queue) or not station.online:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            print("DONE", flush=True)
            task.cancel()
            return 0
        print("READY", flush=True)
        while True:
            await asyncio.sleep(0.003)
            side.charge(1, 1.0)
            station.tx.trigger_updates(1)
    return 1


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--finish", action="store_true")
    a = p.parse_args()
    sys.exit(asyncio.run(main(a.port, a.db, a.finish)))
