"""Authorization over the wire: Authorize, cache, local list, offline rules (C, D)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ocpp_support import Running, eventually, running_station

from evse.ocpp.interfaces import EvPlugged, PowerPathClosed
from tests.conftest import WAIT_S

TAG = {"idToken": "TAG1", "type": "ISO14443"}
OTHER = {"idToken": "TAG2", "type": "ISO14443"}


def run(tmp_path: Path, body: Callable[[Running], Awaitable[None]], **kwargs: Any) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path, **kwargs) as r:
            await body(r)
            assert r.csms.errors_sent == []

    asyncio.run(scenario())


async def go_offline(r: Running) -> None:
    await r.csms.stop()
    await eventually(lambda: not r.station.online, WAIT_S)


def test_d01_d02_send_local_list_full_differential_and_version(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        call = r.csms.call
        assert await call("GetLocalListVersion", {}) == {"versionNumber": 0}
        full = {
            "versionNumber": 3,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idToken": TAG, "idTokenInfo": {"status": "Accepted"}},
                {"idToken": OTHER, "idTokenInfo": {"status": "Blocked"}},
            ],
        }
        assert await call("SendLocalList", full) == {"status": "Accepted"}
        assert await call("GetLocalListVersion", {}) == {"versionNumber": 3}
        old = {"versionNumber": 2, "updateType": "Differential"}
        assert await call("SendLocalList", old) == {"status": "VersionMismatch"}
        diff = {
            "versionNumber": 4,
            "updateType": "Differential",
            "localAuthorizationList": [{"idToken": OTHER}],
        }  # no info: delete
        assert await call("SendLocalList", diff) == {"status": "Accepted"}
        assert r.station.store.local_list_get("ISO14443:TAG2") is None
        assert r.station.dm.get("LocalAuthListCtrlr", "Entries") == "1"

    run(tmp_path, body)


def test_c12_c13_local_list_authorizes_offline(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        await r.csms.call(
            "SendLocalList",
            {
                "versionNumber": 1,
                "updateType": "Full",
                "localAuthorizationList": [{"idToken": TAG, "idTokenInfo": {"status": "Accepted"}}],
            },
        )
        await go_offline(r)
        assert (await r.station.present_id_token(1, TAG))["status"] == "Accepted"
        assert (await r.station.present_id_token(1, OTHER))["status"] == "Unknown"
        assert r.csms.of("Authorize") == []

    run(tmp_path, body)


def test_c10_cache_filled_online_used_offline_and_cleared(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        assert (await r.station.present_id_token(1, TAG))["status"] == "Accepted"
        assert len(r.csms.of("Authorize")) == 1
        # The token's authorization ended with EV unplugged; present it again offline.
        await r.station.tx.deauthorize(1, "StopAuthorized", "Local")
        assert await r.csms.call("ClearCache", {}) == {"status": "Accepted"}
        assert (await r.station.present_id_token(1, TAG))["status"] == "Accepted"
        assert len(r.csms.of("Authorize")) == 2  # cache was cleared: asked again
        await r.station.tx.deauthorize(1, "StopAuthorized", "Local")
        await go_offline(r)
        assert (await r.station.present_id_token(1, TAG))["status"] == "Accepted"  # cache

    run(tmp_path, body)


def test_c15_unknown_offline_only_when_enabled(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        await go_offline(r)
        assert (await r.station.present_id_token(1, OTHER))["status"] == "Accepted"

    run(tmp_path, body, variables={"AuthCtrlr.OfflineTxForUnknownIdEnabled": True})


def test_c01_rejected_token_does_not_authorize(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        info = await r.station.present_id_token(1, OTHER)
        assert info["status"] == "Invalid"
        assert r.station.tx.evses[1].id_token is None
        assert r.side.allowed.get(1) is not True

    run(
        tmp_path,
        body,
        csms_kwargs={"responses": {"Authorize": {"idTokenInfo": {"status": "Invalid"}}}},
    )


def test_e05_deauthorized_in_transaction_event_response_stops(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        r.station.notify(EvPlugged(1))
        await r.station.present_id_token(1, TAG)
        r.station.notify(PowerPathClosed(1))
        await r.csms.wait_until(lambda: len(r.csms.of("TransactionEvent")) == 2)
        ended = r.csms.of("TransactionEvent")[1]
        assert ended["eventType"] == "Ended"
        assert ended["triggerReason"] == "Deauthorized"
        assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
        assert r.side.allowed[1] is False

    run(
        tmp_path,
        body,
        csms_kwargs={
            "responses": {
                "TransactionEvent": lambda p: (
                    {"idTokenInfo": {"status": "Blocked"}} if p["eventType"] == "Started" else {}
                )
            }
        },
    )
