"""Remote control over the wire: F01-F06, G03, E14, and 2.0.1 adaptation of our messages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ocpp_support import Running, running_station

from evse.ocpp.interfaces import ConnectorStatus, EvPlugged, PowerPathClosed
from evse.ocpp.schemas import OcppVersion

TAG = {"idToken": "REMOTE1", "type": "Central"}


def run(tmp_path: Path, body: Callable[[Running], Awaitable[None]], **kwargs: Any) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path, **kwargs) as r:
            await r.csms.wait_until(lambda: bool(r.csms.of("StatusNotification")))
            await body(r)
            assert r.csms.errors_sent == []

    asyncio.run(scenario())


def tx_events(r: Running) -> list[dict[str, Any]]:
    return r.csms.of("TransactionEvent")


def test_f01_f03_remote_start_and_stop(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        res = await r.csms.call("RequestStartTransaction", {"idToken": TAG, "remoteStartId": 42})
        assert res == {"status": "Accepted"}
        await r.csms.wait_until(lambda: bool(tx_events(r)))
        started = tx_events(r)[0]
        # TxStartPoint Authorized: the remote start begins the transaction (F01)
        assert started["eventType"] == "Started" and started["triggerReason"] == "RemoteStart"
        assert started["transactionInfo"]["remoteStartId"] == 42
        assert started["idToken"] == TAG
        tx_id = started["transactionInfo"]["transactionId"]
        again = await r.csms.call("RequestStartTransaction", {"idToken": TAG, "remoteStartId": 43})
        assert again == {"status": "Rejected"}
        status = await r.csms.call("GetTransactionStatus", {"transactionId": tx_id})
        assert status["ongoingIndicator"] is True
        assert await r.csms.call("RequestStopTransaction", {"transactionId": "nope"}) == {
            "status": "Rejected"
        }
        assert await r.csms.call("RequestStopTransaction", {"transactionId": tx_id}) == {
            "status": "Accepted"
        }
        await r.csms.wait_until(lambda: len(tx_events(r)) == 2)
        ended = tx_events(r)[1]
        assert ended["triggerReason"] == "RemoteStop"
        assert ended["transactionInfo"]["stoppedReason"] == "Remote"
        assert [e["seqNo"] for e in tx_events(r)] == [0, 1]

    run(tmp_path, body, variables={"TxCtrlr.TxStartPoint": "Authorized"})


def test_f02_remote_start_in_a_running_transaction_then_stop_does_not_restart(
    tmp_path: Path,
) -> None:
    async def body(r: Running) -> None:
        r.station.notify(EvPlugged(1))  # EVConnected is the start point
        await r.csms.wait_until(lambda: bool(tx_events(r)))
        tx_id = tx_events(r)[0]["transactionInfo"]["transactionId"]
        res = await r.csms.call("RequestStartTransaction", {"idToken": TAG, "remoteStartId": 7})
        assert res == {"status": "Accepted", "transactionId": tx_id}  # F02
        await r.csms.wait_until(lambda: len(tx_events(r)) == 2)
        update = tx_events(r)[1]
        assert update["eventType"] == "Updated" and update["triggerReason"] == "RemoteStart"
        assert update["idToken"] == TAG and update["transactionInfo"]["remoteStartId"] == 7
        assert r.side.allowed[1] is True
        await r.csms.call("RequestStopTransaction", {"transactionId": tx_id})
        await r.csms.wait_until(lambda: len(tx_events(r)) == 3)
        assert tx_events(r)[2]["eventType"] == "Ended"
        await asyncio.sleep(0.1)
        assert len(tx_events(r)) == 3  # EV still plugged: no new transaction (E01)

    run(tmp_path, body, variables={"TxCtrlr.TxStartPoint": "EVConnected"})


def test_f05_unlock_connector(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        res = await r.csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
        assert res == {"status": "Unlocked"} and r.side.unlocks == [(1, 1)]
        res = await r.csms.call("UnlockConnector", {"evseId": 9, "connectorId": 1})
        assert res == {"status": "UnknownConnector"}
        r.station.notify(EvPlugged(1))
        await r.station.present_id_token(1, TAG)
        r.station.notify(PowerPathClosed(1))
        await r.csms.wait_until(lambda: bool(tx_events(r)))
        res = await r.csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
        assert res == {"status": "OngoingAuthorizedTransaction"}

    run(tmp_path, body)


def test_f06_trigger_message(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        n = len(r.csms.of("StatusNotification"))
        res = await r.csms.call("TriggerMessage", {"requestedMessage": "StatusNotification"})
        assert res == {"status": "Accepted"}
        await r.csms.wait_until(lambda: len(r.csms.of("StatusNotification")) == n + 1)
        assert await r.csms.call("TriggerMessage", {"requestedMessage": "MeterValues"}) == {
            "status": "Accepted"
        }
        await r.csms.wait_until(lambda: bool(r.csms.of("MeterValues")))
        mv = r.csms.of("MeterValues")[0]
        assert mv["evseId"] == 1 and mv["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
        assert await r.csms.call("TriggerMessage", {"requestedMessage": "Heartbeat"}) == {
            "status": "Accepted"
        }
        await r.csms.wait_until(lambda: bool(r.csms.of("Heartbeat")))
        assert await r.csms.call("TriggerMessage", {"requestedMessage": "BootNotification"}) == {
            "status": "Rejected"
        }  # already accepted
        res = await r.csms.call("TriggerMessage", {"requestedMessage": "LogStatusNotification"})
        assert res == {"status": "NotImplemented"}

    run(tmp_path, body)


def test_g03_change_availability_and_status(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        res = await r.csms.call(
            "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}
        )
        assert res == {"status": "Accepted"}
        await r.csms.wait_until(
            lambda: r.csms.of("StatusNotification")[-1]["connectorStatus"] == "Unavailable"
        )
        assert r.side.availability == [(1, False)]
        assert r.station.store.get_meta("inoperative") == "1"
        res = await r.csms.call("RequestStartTransaction", {"idToken": TAG, "remoteStartId": 1})
        assert res == {"status": "Rejected"}
        r.station.notify(ConnectorStatus(1, 1, "Available"))  # still reported Unavailable
        await r.csms.call("ChangeAvailability", {"operationalStatus": "Operative"})
        await r.csms.wait_until(
            lambda: r.csms.of("StatusNotification")[-1]["connectorStatus"] == "Available"
        )

    run(tmp_path, body)


def test_201_connection_gets_201_valid_transaction_events(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        # A 2.1-only triggerReason is mapped when the CSMS speaks 2.0.1.
        r.station.notify(EvPlugged(1))
        await r.station.present_id_token(1, TAG)
        r.station.notify(PowerPathClosed(1))
        await r.csms.wait_until(lambda: bool(tx_events(r)))
        st = r.station.tx.evses[1]
        r.station.tx._emit(st, "Updated", "TxResumed")
        await r.csms.wait_until(lambda: len(tx_events(r)) == 2)
        assert tx_events(r)[1]["triggerReason"] == "AbnormalCondition"
        assert r.station.version == OcppVersion.V201

    run(tmp_path, body, csms_kwargs={"versions": ("ocpp2.0.1",)})


def test_g03_inoperative_with_a_transaction_is_scheduled_until_it_ends(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        from evse.ocpp.interfaces import EvUnplugged

        r.station.notify(EvPlugged(1))
        await r.station.present_id_token(1, TAG)
        r.station.notify(PowerPathClosed(1))
        await r.csms.wait_until(lambda: bool(tx_events(r)))
        res = await r.csms.call("ChangeAvailability", {"operationalStatus": "Inoperative"})
        assert res == {"status": "Scheduled"}
        await asyncio.sleep(0.05)
        assert r.side.availability == [] and r.side.allowed[1] is True
        r.station.notify(EvUnplugged(1))
        await r.csms.wait_until(
            lambda: r.csms.of("StatusNotification")[-1]["connectorStatus"] == "Unavailable"
        )
        assert r.side.availability == [(1, False)]

    run(tmp_path, body)
