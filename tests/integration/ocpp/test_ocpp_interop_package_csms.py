"""Interop: our station against a CSMS built on the `ocpp` package's own ChargePoint
(the package's server-side usage), over real WebSockets, both 2.1 and 2.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v21 import ChargePoint as CsmsV21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as CsmsV201
from ocpp.v201 import call_result as result201
from ocpp_support import StationSide, config, eventually
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from evse.ocpp.interfaces import EvPlugged, EvUnplugged, PowerPathClosed
from evse.ocpp.station import OcppStation
from tests.conftest import WAIT_S


def now() -> str:
    return datetime.now(UTC).isoformat()


def make_csms(base: type, results: Any, log: list[tuple[str, dict[str, Any]]]) -> type:
    class Csms(base):  # type: ignore[misc, valid-type]
        @on("BootNotification")
        def boot(self, **kw: Any) -> Any:
            log.append(("BootNotification", kw))
            return results.BootNotification(current_time=now(), interval=300, status="Accepted")

        @on("StatusNotification")
        def status(self, **kw: Any) -> Any:
            log.append(("StatusNotification", kw))
            return results.StatusNotification()

        @on("Authorize")
        def authorize(self, **kw: Any) -> Any:
            log.append(("Authorize", kw))
            return results.Authorize(id_token_info={"status": "Accepted"})

        @on("TransactionEvent")
        def tx(self, **kw: Any) -> Any:
            log.append(("TransactionEvent", kw))
            return results.TransactionEvent()

        @on("SecurityEventNotification")
        def security(self, **kw: Any) -> Any:
            # The package leaves an action without handler unanswered (a known 2.1.0
            # defect), which would hold our strictly ordered queue until timeouts.
            log.append(("SecurityEventNotification", kw))
            return results.SecurityEventNotification()

        @on("Heartbeat")
        def heartbeat(self, **kw: Any) -> Any:
            return results.Heartbeat(current_time=now())

    return Csms


@pytest.mark.parametrize("version", ["ocpp2.1", "ocpp2.0.1"])
def test_station_against_the_ocpp_package_csms(tmp_path: Path, version: str) -> None:
    log: list[tuple[str, dict[str, Any]]] = []
    base, results = (CsmsV21, result21) if version == "ocpp2.1" else (CsmsV201, result201)
    csms_cls = make_csms(base, results, log)
    points: list[Any] = []

    async def handler(conn: ServerConnection) -> None:
        cp = csms_cls("CS001", conn)
        points.append(cp)
        await cp.start()

    async def scenario() -> None:
        async with serve(handler, "127.0.0.1", 0, subprotocols=[Subprotocol(version)]) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            side = StationSide()
            station = OcppStation(config(port), tmp_path / "evse.db", side)
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
                station.notify(EvPlugged(1))
                info = await station.present_id_token(1, {"idToken": "T1", "type": "ISO14443"})
                assert info["status"] == "Accepted"
                station.notify(PowerPathClosed(1))
                side.charge(1, 1234.0)
                station.notify(EvUnplugged(1))
                await eventually(lambda: sum(a == "TransactionEvent" for a, _ in log) == 2)
                if version == "ocpp2.1":
                    # and the package's CSMS can drive us (its snake_case call side)
                    res = await points[0].call(
                        call21.GetVariables(
                            get_variable_data=[
                                {
                                    "component": {"name": "OCPPCommCtrlr"},
                                    "variable": {"name": "HeartbeatInterval"},
                                }
                            ]
                        )
                    )
                    assert res.get_variable_result[0]["attribute_value"] == "300"
                await eventually(lambda: len(station.queue) == 0)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    actions = [a for a, _ in log]
    assert actions[0] == "BootNotification"
    assert "StatusNotification" in actions and "Authorize" in actions
    events = [kw for a, kw in log if a == "TransactionEvent"]
    assert [e["event_type"] for e in events] == ["Started", "Ended"]
    assert [e["seq_no"] for e in events] == [0, 1]
