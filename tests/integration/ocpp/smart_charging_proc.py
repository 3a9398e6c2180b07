"""An OcppStation in its own process for the smart-charging kill -9 test: connects to
the CSMS on --port with the database --db, prints READY once connected, runs until
killed."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[3]))  # ocpp_support uses tests.conftest

from ocpp_support import StationSide, config

from evse.ocpp.station import OcppStation


async def main(port: int, db: Path) -> int:
    station = OcppStation(config(port), db, StationSide())
    async with asyncio.TaskGroup() as tg:
        tg.create_task(station.run())
        await station.connected.wait()
        print("READY", flush=True)
    return 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.port, args.db)))
