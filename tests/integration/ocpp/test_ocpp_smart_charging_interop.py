"""Interop: the `ocpp` package's ChargePoint as CSMS sets charging profiles on our
station (its snake_case call side) and reads the composite schedule back (K01, K08)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v21 import call as call21
from ocpp_support import StationSide, config
from package_csms import BootedCsms
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from evse.ocpp.station import OcppStation
from tests.conftest import WAIT_S


def snake_profile(pid: int, periods: list[dict[str, Any]]) -> dict[str, Any]:
    start = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": pid,
        "stack_level": 0,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": 1,
                "start_schedule": start,
                "charging_rate_unit": "W",
                "charging_schedule_period": periods,
            }
        ],
    }


def test_K01_K08_profiles_from_the_ocpp_package_csms(tmp_path: Path) -> None:
    points: list[Any] = []

    async def handler(conn: ServerConnection) -> None:
        cp = BootedCsms("CS001", conn)
        points.append(cp)
        await cp.start()

    async def scenario() -> None:
        proto = [Subprotocol("ocpp2.1")]
        async with serve(handler, "127.0.0.1", 0, subprotocols=proto) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            station = OcppStation(config(port), tmp_path / "evse.db", StationSide())
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
                cp = points[0]
                no_curve = snake_profile(
                    1, [{"start_period": 0, "operation_mode": "LocalFrequency", "v2x_baseline": 0}]
                )
                res = await cp.call(call21.SetChargingProfile(evse_id=1, charging_profile=no_curve))
                assert res.status == "Rejected"
                assert res.status_info["reason_code"] == "NoFreqWattCurve"  # Q08.FR.02
                good = snake_profile(
                    2,
                    [
                        {
                            "start_period": 0,
                            "limit": 7400.0,
                            "discharge_limit": -3000.0,
                            "setpoint": -2000.0,
                            "operation_mode": "CentralSetpoint",
                        }
                    ],
                )
                res = await cp.call(call21.SetChargingProfile(evse_id=1, charging_profile=good))
                assert res.status == "Accepted"
                res = await cp.call(
                    call21.GetCompositeSchedule(duration=300, evse_id=1, charging_rate_unit="W")
                )
                assert res.status == "Accepted"
                first = res.schedule["charging_schedule_period"][0]
                assert first["limit"] == 7400.0
                assert first["setpoint"] == -2000.0
                assert first["operation_mode"] == "CentralSetpoint"
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
