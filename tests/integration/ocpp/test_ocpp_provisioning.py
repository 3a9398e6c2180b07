"""Provisioning and the RPC rules as seen by a CSMS over a real WebSocket (B01-B12)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from ocpp_support import PASSWORD, Running, StationSide, config, eventually, running_station

from evse.ocpp.clock import SimClock
from evse.ocpp.endpoint import OcppCallError
from evse.ocpp.station import OcppStation
from evse.sim.csms import ScriptedCsms
from evse.store import Store
from tests.conftest import WAIT_S


def run(tmp_path: Path, body: Callable[[Running], Awaitable[None]], **kwargs: Any) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path, **kwargs) as r:
            await r.csms.wait_until(lambda: bool(r.csms.of("StatusNotification")))
            await body(r)
            assert r.csms.errors_sent == []

    asyncio.run(scenario())


INVALID = [
    ("not json at all", "-1", "RpcFrameworkError"),
    ('[2, "m1", "Reset"]', "m1", "RpcFrameworkError"),
    ('[7, "m2", "Reset", {}]', "m2", "MessageTypeNotSupported"),
    ('[2, "m3", "NoSuchThing", {}]', "m3", "NotImplemented"),
    (
        '[2, "m4", "SetDisplayMessage", {"message": {"id": 1, "priority": "AlwaysFront", '
        '"message": {"format": "UTF8", "content": "hi"}}}]',
        "m4",
        "NotSupported",
    ),
    ('[2, "m5", "Reset", {}]', "m5", "OccurrenceConstraintViolation"),
    ('[2, "m6", "Reset", {"type": 1}]', "m6", "TypeConstraintViolation"),
    ('[2, "m7", "Reset", {"type": "Soon"}]', "m7", "PropertyConstraintViolation"),
    ('[2, "m8", "Reset", {"type": "OnIdle", "extra": 1}]', "m8", "FormatViolation"),
    ('[2, "m9", "Reset", "payload"]', "m9", "FormatViolation"),
]


def test_ocppj_4_3_invalid_frames_get_the_right_callerror_and_link_stays_up(
    tmp_path: Path,
) -> None:
    async def body(r: Running) -> None:
        for text, mid, code in INVALID:
            await r.csms.send_raw(text)

            def answered(mid: str = mid) -> bool:
                return any(
                    d == "in" and json.loads(t)[1] == mid
                    for _, d, t in r.csms.frames
                    if t.startswith("[4")
                )

            await eventually(answered, WAIT_S)
            reply = next(
                json.loads(t)
                for _, d, t in r.csms.frames
                if d == "in" and t.startswith("[4") and json.loads(t)[1] == mid
            )
            assert reply[2] == code, (text, reply)
            assert len(reply) == 5 and isinstance(reply[4], dict)
        # still the same connection, and it still works
        assert r.csms.connections == 1
        answer = await r.csms.call("GetLocalListVersion", {})
        assert answer == {"versionNumber": 0}

    run(tmp_path, body)


def test_b06_b05_get_and_set_variables(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        hb = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
        res = await r.csms.call(
            "SetVariables",
            {
                "setVariableData": [
                    {**hb, "attributeValue": "120"},
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "Identity"},
                        "attributeValue": "X",
                    },  # ReadOnly
                    {**hb, "attributeValue": "soon"},  # not an integer
                    {
                        "component": {"name": "NoSuchCtrlr"},
                        "variable": {"name": "X"},
                        "attributeValue": "1",
                    },
                    {
                        "component": {"name": "TxCtrlr"},
                        "variable": {"name": "NoSuchVar"},
                        "attributeValue": "1",
                    },
                    {**hb, "attributeValue": "5", "attributeType": "MaxSet"},
                    {
                        "component": {"name": "EVSE", "evse": {"id": 1}},
                        "variable": {"name": "Power"},
                        "attributeType": "MaxSet",
                        "attributeValue": "7000",
                    },
                ]
            },
        )
        statuses = [x["attributeStatus"] for x in res["setVariableResult"]]
        assert statuses == [
            "Accepted",
            "Rejected",
            "Rejected",
            "UnknownComponent",
            "UnknownVariable",
            "NotSupportedAttributeType",
            "Rejected",
        ]
        res = await r.csms.call(
            "GetVariables",
            {
                "getVariableData": [
                    hb,
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    },
                    {
                        "component": {"name": "EVSE", "evse": {"id": 1}},
                        "variable": {"name": "AvailabilityState"},
                    },
                    {
                        "component": {"name": "EVSE", "evse": {"id": 2}},
                        "variable": {"name": "AvailabilityState"},
                    },
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
                    },
                ]
            },
        )
        got = [(x["attributeStatus"], x.get("attributeValue")) for x in res["getVariableResult"]]
        assert got == [
            ("Accepted", "120"),
            ("Rejected", None),
            ("Accepted", "Available"),
            ("UnknownComponent", None),
            ("Accepted", "3"),
        ]
        too_many = {"getVariableData": [hb] * 51}
        with pytest.raises(OcppCallError) as exc:
            await r.csms.call("GetVariables", too_many)
        assert exc.value.code == "OccurrenceConstraintViolation"

    run(tmp_path, body)


def test_b05_set_values_persist_across_restart(tmp_path: Path) -> None:
    async def first(r: Running) -> None:
        await r.csms.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "TxCtrlr"},
                        "variable": {"name": "TxStartPoint"},
                        "attributeValue": "EVConnected,Authorized",
                    }
                ]
            },
        )

    async def second(r: Running) -> None:
        assert r.station.dm.get_list("TxCtrlr", "TxStartPoint") == ["EVConnected", "Authorized"]

    run(tmp_path, first)
    run(tmp_path, second)


def test_b07_base_report_in_chunks_with_seqno_and_tbc(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        res = await r.csms.call("GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"})
        assert res == {"status": "Accepted"}
        await r.csms.wait_until(lambda: any(not p["tbc"] for p in r.csms.of("NotifyReport")))
        reports = r.csms.of("NotifyReport")
        assert [p["seqNo"] for p in reports] == list(range(len(reports)))
        assert all(p["requestId"] == 7 for p in reports)
        assert [p["tbc"] for p in reports] == [True] * (len(reports) - 1) + [False]
        assert all(len(p["reportData"]) <= 20 for p in reports)
        items = [d for p in reports for d in p["reportData"]]
        names = {d["component"]["name"] for d in items}
        for needed in (
            "OCPPCommCtrlr",
            "SecurityCtrlr",
            "TxCtrlr",
            "AuthCtrlr",
            "AuthCacheCtrlr",
            "LocalAuthListCtrlr",
            "SampledDataCtrlr",
            "AlignedDataCtrlr",
            "SmartChargingCtrlr",
            "ISO15118Ctrlr",
            "V2XChargingCtrlr",
            "DCDERCtrlr",
            "ChargingStation",
            "EVSE",
            "Connector",
        ):
            assert needed in names
        pwd = next(d for d in items if d["variable"]["name"] == "BasicAuthPassword")
        assert "value" not in pwd["variableAttribute"][0]  # WriteOnly is never reported
        assert len(items) == len(r.station.dm.slots())

    run(tmp_path, body)


def test_b08_get_report_filters_and_empty_result(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        res = await r.csms.call(
            "GetReport",
            {"requestId": 3, "componentVariable": [{"component": {"name": "NoSuchCtrlr"}}]},
        )
        assert res == {"status": "EmptyResultSet"}
        res = await r.csms.call(
            "GetReport",
            {
                "requestId": 4,
                "componentVariable": [
                    {"component": {"name": "AuthCtrlr"}, "variable": {"name": "Enabled"}},
                    {"component": {"name": "EVSE", "evse": {"id": 1}}},
                ],
            },
        )
        assert res == {"status": "Accepted"}
        await r.csms.wait_until(lambda: bool(r.csms.of("NotifyReport")))
        data = r.csms.of("NotifyReport")[0]["reportData"]
        assert {d["component"]["name"] for d in data} == {"AuthCtrlr", "EVSE"}
        assert sum(d["component"]["name"] == "AuthCtrlr" for d in data) == 1

    run(tmp_path, body)


def test_b02_boot_pending_then_accepted_after_interval(tmp_path: Path) -> None:
    answers = iter(
        [
            {"currentTime": "2026-01-01T00:00:00Z", "interval": 1, "status": "Pending"},
            {"currentTime": "2026-01-01T00:00:00Z", "interval": 1, "status": "Rejected"},
            {"currentTime": "2026-01-01T00:00:00Z", "interval": 60, "status": "Accepted"},
        ]
    )

    async def body(r: Running) -> None:
        assert len(r.csms.of("BootNotification")) == 3
        assert r.station.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 60
        # nothing but BootNotification went out before Accepted (B02.FR.?)
        actions = [x.action for x in r.csms.received]
        assert actions[:3] == ["BootNotification"] * 3

    run(tmp_path, body, csms_kwargs={"responses": {"BootNotification": lambda _: next(answers)}})


def test_b09_set_network_profile_rules(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        data = {
            "ocppInterface": "Wired0",
            "ocppTransport": "JSON",
            "messageTimeout": 30,
            "ocppCsmsUrl": "ws://127.0.0.1:1/ocpp",
            "securityProfile": 1,
        }
        ok = await r.csms.call(
            "SetNetworkProfile", {"configurationSlot": 1, "connectionData": data}
        )
        assert ok == {"status": "Accepted"}
        bad = await r.csms.call(
            "SetNetworkProfile",
            {"configurationSlot": 2, "connectionData": {**data, "securityProfile": 2}},
        )  # wss needed for profile 2
        assert bad == {"status": "Rejected"}
        assert set(r.station.prov.profiles()) == {0, 1}

    run(tmp_path, body)


def test_b10_fallback_to_the_next_network_profile(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            # Slot 1 (as a SetNetworkProfile would have stored it) reaches the CSMS;
            # slot 0 from the config is a dead address and comes first in priority.
            store = Store(tmp_path / "evse.db")
            store.set_meta(
                "network_profiles",
                json.dumps(
                    {
                        "1": {
                            "ocppInterface": "Wired0",
                            "ocppTransport": "JSON",
                            "messageTimeout": 5,
                            "ocppCsmsUrl": f"ws://127.0.0.1:{csms.port}/ocpp",
                            "securityProfile": 1,
                        }
                    }
                ),
            )
            store.close()
            cfg = config(
                csms.port,
                csms_url="ws://127.0.0.1:1/ocpp",
                variables={
                    "OCPPCommCtrlr.NetworkConfigurationPriority": "0,1",
                    "OCPPCommCtrlr.NetworkProfileConnectionAttempts": 2,
                },
            )
            station = OcppStation(cfg, tmp_path / "evse.db", StationSide())
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
                assert station.dm.get_int("OCPPCommCtrlr", "ActiveNetworkProfile") == 1
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_b11_immediate_reset_ends_transactions_and_resets(tmp_path: Path) -> None:
    async def body(r: Running) -> None:
        from evse.ocpp.interfaces import EvPlugged, PowerPathClosed

        r.station.notify(EvPlugged(1))
        await r.station.present_id_token(1, {"idToken": "A", "type": "Central"})
        r.station.notify(PowerPathClosed(1))
        await r.csms.wait_until(lambda: bool(r.csms.of("TransactionEvent")))
        assert await r.csms.call("Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
        assert await r.csms.call("Reset", {"type": "Immediate"}) == {"status": "Accepted"}
        await r.csms.wait_until(lambda: len(r.csms.of("TransactionEvent")) == 2)
        ended = r.csms.of("TransactionEvent")[1]
        assert ended["eventType"] == "Ended" and ended["triggerReason"] == "ResetCommand"
        assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
        assert r.side.resets == [True]
        assert r.station.store.get_meta("boot_reason") == "RemoteReset"

    run(tmp_path, body)


def test_b01_boot_answered_with_callerror_is_retried(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()
        calls: list[float] = []

        def boot(_: dict[str, Any]) -> dict[str, Any]:
            calls.append(clock.monotonic())
            if len(calls) == 1:
                raise OcppCallError("InternalError", "CSMS starting")
            return {"currentTime": "2026-01-01T00:00:00Z", "interval": 300, "status": "Accepted"}

        async with ScriptedCsms(
            passwords={"CS001": PASSWORD}, responses={"BootNotification": boot}
        ) as csms:
            station = OcppStation(
                config(csms.port), tmp_path / "evse.db", StationSide(), clock=clock
            )
            task = asyncio.create_task(station.run())
            try:
                await eventually(lambda: len(calls) == 1)
                retry_at = clock.monotonic() + 60
                await eventually(lambda: retry_at in clock.deadlines())  # B01 retry wait
                await clock.advance(59)
                assert len(calls) == 1
                await clock.advance(2)
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        assert calls[1] - calls[0] >= 60

    asyncio.run(scenario())
