"""The OCPP station against the scripted CSMS over real WebSockets on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocpp_support import running_station

from evse.ocpp.interfaces import EvPlugged, EvUnplugged, PowerPathClosed
from tests.conftest import WAIT_S


def test_b01_boot_then_status_notifications_and_no_bad_frames(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            csms = r.csms
            await csms.wait_until(lambda: len(csms.of("StatusNotification")) == 1)
            boot = csms.of("BootNotification")[0]
            assert boot["reason"] == "PowerUp"
            assert boot["chargingStation"] == {"model": "evse-v2g", "vendorName": "evse-stack"}
            assert csms.of("StatusNotification")[0]["connectorStatus"] == "Available"
            await csms.wait_until(lambda: bool(csms.of("SecurityEventNotification")))
            assert csms.of("SecurityEventNotification")[0]["type"] == "StartupOfTheDevice"
            assert csms.received[0].version == "ocpp2.1"
            assert csms.errors_sent == []

    asyncio.run(scenario())


def test_e01_transaction_started_updated_ended(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            csms, station, side = r.csms, r.station, r.side
            station.notify(EvPlugged(1))
            info = await station.present_id_token(1, {"idToken": "TAG1", "type": "ISO14443"})
            assert info["status"] == "Accepted"
            assert side.allowed[1] is True
            station.notify(PowerPathClosed(1))
            await asyncio.sleep(0.05)
            side.charge(1, 500.0)
            station.notify(EvUnplugged(1))

            def ended() -> bool:
                return any(e["eventType"] == "Ended" for e in csms.of("TransactionEvent"))

            await csms.wait_until(ended)
            events = csms.of("TransactionEvent")
            assert [e["eventType"] for e in events] == ["Started", "Ended"]
            assert [e["seqNo"] for e in events] == [0, 1]
            assert events[0]["triggerReason"] == "ChargingStateChanged"  # TxStartPoint
            assert events[0]["idToken"] == {"idToken": "TAG1", "type": "ISO14443"}
            assert events[1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
            assert events[1]["meterValue"][0]["sampledValue"][0]["value"] == 500.0
            assert all("offline" not in e for e in events)
            assert len({e["transactionInfo"]["transactionId"] for e in events}) == 1
            assert csms.of("Authorize") == [{"idToken": {"idToken": "TAG1", "type": "ISO14443"}}]
            assert side.allowed[1] is False
            assert csms.errors_sent == []

    asyncio.run(scenario())


def test_b12_on_idle_reset_waits_for_the_transaction(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            csms, station, side = r.csms, r.station, r.side
            station.notify(EvPlugged(1))
            await station.present_id_token(1, {"idToken": "TAG1", "type": "ISO14443"})
            station.notify(PowerPathClosed(1))
            await csms.wait_until(lambda: bool(csms.of("TransactionEvent")))
            assert await csms.call("Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
            await asyncio.sleep(0.05)
            assert side.resets == []
            station.notify(EvUnplugged(1))
            await csms.wait_until(lambda: len(csms.of("TransactionEvent")) == 2)
            await asyncio.sleep(0.05)
            assert side.resets == [False]
            assert csms.of("TransactionEvent")[1]["transactionInfo"]["stoppedReason"] == (
                "EVDisconnected"
            )

    asyncio.run(scenario())


def test_g02_heartbeat_at_the_interval_from_the_boot_response(tmp_path: Path) -> None:
    async def scenario() -> None:
        boot = {"currentTime": "2026-01-01T00:00:00Z", "interval": 1, "status": "Accepted"}
        async with running_station(tmp_path, {"responses": {"BootNotification": boot}}) as r:
            await r.csms.wait_until(lambda: len(r.csms.of("Heartbeat")) >= 2, WAIT_S)

    asyncio.run(scenario())
