"""Issue 10: no input from a CSMS silences the OCPP client. Real WebSockets, real SQLite.

Each input here ended the OCPP task on the old code (nothing logged, no reconnect);
now it is answered, the connection stays (or comes back) and the station keeps working.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from ocpp_support import PASSWORD, Running, StationSide, config, eventually, running_station

from evse.ocpp.device_model import DeviceModel
from evse.ocpp.station import OcppStation
from evse.sim.csms import ScriptedCsms
from evse.store import Store


def answer_to(r: Running, mid: str) -> list[Any] | None:
    for _, direction, text in r.csms.frames:
        if direction == "in" and text[:2] in ("[3", "[4"):
            frame = json.loads(text)
            if frame[1] == mid:
                return list(frame)
    return None


HOSTILE = [
    # (frame, its id, the code it must be answered with)
    ('[2,"h1","' + "A" * 300 + '",{}]', "h1", "NotImplemented"),
    ('[2,"h2","DataTransfer",{"vendorId":"v","data":' + "[" * 1000 + "]" * 1000 + "}]",
     "h2", "FormatViolation"),
    ('[2,"h3","GetBaseReport",{"requestId":' + "9" * 400 + ',"reportBase":"FullInventory"}]',
     "h3", "FormatViolation"),
    ('[2,"h4","GetVariables",{"getVariableData":[{"component":{"name":"\\ud800"},'
     '"variable":{"name":"X"}}]}]', "h4", "FormatViolation"),
    ('[2,"h5","GetBaseReport",{"requestId":NaN,"reportBase":"FullInventory"}]',
     "h5", "FormatViolation"),
]


def test_ocppj_4_3_hostile_calls_are_answered_and_the_connection_stays(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            # A CALLRESULT nested 1000 deep for no outstanding CALL: dropped, not fatal.
            await r.csms.send_raw('[3,"nobody",' + "[" * 1000 + "]" * 1000 + "]")
            for text, mid, code in HOSTILE:
                await r.csms.send_raw(text)
                await eventually(lambda mid=mid: answer_to(r, mid) is not None, 20)
                reply = answer_to(r, mid)
                assert reply is not None and reply[0] == 4 and reply[2] == code, (mid, reply)
            assert r.csms.connections == 1
            assert await r.csms.call("GetLocalListVersion", {}) == {"versionNumber": 0}

    asyncio.run(scenario())


def test_b05_set_variables_validates_type_and_limits_before_storing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            def item(component: str, variable: str, value: str) -> dict[str, Any]:
                return {
                    "component": {"name": component},
                    "variable": {"name": variable},
                    "attributeValue": value,
                }

            tries = [
                item("OCPPCommCtrlr", "HeartbeatInterval", "9" * 400),  # integer, 400 digits
                item("OCPPCommCtrlr", "HeartbeatInterval", "4294967296"),  # beyond 32 bit
                item("OCPPCommCtrlr", "HeartbeatInterval", "0"),  # below minLimit 1
                item("SmartChargingCtrlr", "LimitChangeSignificance", "1e400"),  # decimal
                item("SmartChargingCtrlr", "LimitChangeSignificance", "nan"),
                item("ISO15118Ctrlr", "CountryName", "DEU"),  # maxLength 2
                item("OCPPCommCtrlr", "QueueAllMessages", "yes"),  # boolean
                item("TxCtrlr", "TxStartPoint", "Teleport"),  # valuesList
                item("SecurityCtrlr", "BasicAuthPassword", "short"),  # minLimit: length 16
            ]
            answer = await r.csms.call("SetVariables", {"setVariableData": tries})
            statuses = [x["attributeStatus"] for x in answer["setVariableResult"]]
            assert statuses == ["Rejected"] * len(tries)
            assert r.station.dm.get("OCPPCommCtrlr", "HeartbeatInterval") == "300"
            assert r.station.store.dm_all() == {}
            assert r.csms.connections == 1

    asyncio.run(scenario())


NET = {
    "ocppInterface": "Wired0",
    "ocppTransport": "JSON",
    "messageTimeout": 30,
    "securityProfile": 1,
}


@pytest.mark.parametrize(
    "url",
    ["ws://", "ws://:80/ocpp", "ws://host:99999/ocpp", "ws://bad host/ocpp", "ws://h:0/o",
     "http://h/o", "ws://user:pw@h/o"],
)
def test_b09_set_network_profile_rejects_unusable_urls(tmp_path: Path, url: str) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            data = {**NET, "ocppCsmsUrl": url}
            answer = await r.csms.call(
                "SetNetworkProfile", {"configurationSlot": 1, "connectionData": data}
            )
            assert answer == {"status": "Rejected"}
            assert set(r.station.prov.profiles()) == {0}
            assert r.station.store.get_meta("network_profiles") is None

    asyncio.run(scenario())


def test_stored_state_failing_validation_is_reported_and_replaced_by_defaults(
    tmp_path: Path,
) -> None:
    """What an older release (or a bad write) left on disk: a 400-digit integer and a
    network profile "ws://" selected first. The station starts, reports both with a
    NotifyEvent, uses the defaults and connects; no crash loop."""
    db = tmp_path / "evse.db"
    store = Store(db)
    dm = DeviceModel(store)
    heartbeat = dm.find("OCPPCommCtrlr", "HeartbeatInterval")
    priority = dm.find("OCPPCommCtrlr", "NetworkConfigurationPriority")
    assert heartbeat is not None and priority is not None
    store.dm_set(heartbeat.key(), "9" * 400)
    store.dm_set(priority.key(), "1,0")
    store.set_meta("network_profiles", json.dumps({"1": {**NET, "ocppCsmsUrl": "ws://"}}))
    store.close()

    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            await r.csms.wait_until(lambda: bool(r.csms.of("NotifyEvent")), 20)
            events = [e for p in r.csms.of("NotifyEvent") for e in p["eventData"]]
            named = {e["variable"]["name"] for e in events}
            assert named == {"HeartbeatInterval", "NetworkConfigurationPriority"}
            assert r.station.dm.get("OCPPCommCtrlr", "HeartbeatInterval") == "300"
            assert r.station.prov.profiles().keys() == {0}
            assert r.csms.errors_sent == []

    asyncio.run(scenario())


def test_connection_loop_survives_an_unexpected_exception_logs_it_and_reconnects(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fault injected at the frame probe (it raises inside the connection's reader,
    where any bug would): logged with its traceback, connection re-opened, work goes on."""
    fired: list[str] = []

    def probe(direction: str, text: str) -> None:
        if direction == "in" and "boom-probe" in text and not fired:
            fired.append(text)
            raise RuntimeError("injected fault")

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            station = OcppStation(
                config(csms.port), tmp_path / "evse.db", StationSide(), on_frame=probe
            )
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(station.run())
                await asyncio.wait_for(station.connected.wait(), 20)
                await csms.send_raw('[2,"boom-probe","GetLocalListVersion",{}]')
                await csms.wait_until(lambda: csms.connections >= 2, 20)
                await asyncio.wait_for(station.connected.wait(), 20)
                await eventually(lambda: len(csms.stations) == 1, 20)
                assert await csms.call("GetLocalListVersion", {}) == {"versionNumber": 0}
                assert not task.done()
                task.cancel()

    with caplog.at_level(logging.ERROR, logger="evse.ocpp.station"):
        asyncio.run(scenario())
    assert fired
    assert any(
        "reconnecting" in r.getMessage() and r.exc_info is not None for r in caplog.records
    )


class _FailingSide(StationSide):
    async def unlock_connector(self, evse_id: int, connector_id: int) -> str:
        raise RuntimeError("port bug")


def test_ocppj_4_3_handler_exception_is_internal_error_and_connection_stays(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            station = OcppStation(config(csms.port), tmp_path / "evse.db", _FailingSide())
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), 20)
                from evse.ocpp.endpoint import OcppCallError

                with pytest.raises(OcppCallError) as info:
                    await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
                assert info.value.code == "InternalError"
                assert csms.connections == 1
                assert await csms.call("GetLocalListVersion", {}) == {"versionNumber": 0}
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_b01_boot_interval_beyond_32_bit_is_not_stored(tmp_path: Path) -> None:
    """Values the station takes from a response are checked like SetVariables values."""
    huge = {
        "BootNotification": lambda _: {
            "currentTime": "2026-01-01T00:00:00.000Z",
            "interval": 2**62,
            "status": "Accepted",
        }
    }

    async def scenario() -> None:
        async with running_station(tmp_path, csms_kwargs={"responses": huge}) as r:
            assert r.station.dm.get("OCPPCommCtrlr", "HeartbeatInterval") == "300"
            assert r.station.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 300

    asyncio.run(scenario())


def test_c13_local_list_expiry_without_offset_is_read_as_utc(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            token = {"idToken": "NAIVE", "type": "ISO14443"}
            answer = await r.csms.call(
                "SendLocalList",
                {
                    "versionNumber": 1,
                    "updateType": "Full",
                    "localAuthorizationList": [
                        {
                            "idToken": token,
                            "idTokenInfo": {
                                "status": "Accepted",
                                "cacheExpiryDateTime": "2099-01-01T00:00:00",
                            },
                        }
                    ],
                },
            )
            assert answer == {"status": "Accepted"}
            await r.csms.stop()  # offline: the local list decides
            await eventually(lambda: not r.station.online, 20)
            info = await r.station.present_id_token(1, token)
            assert info["status"] == "Accepted"

    asyncio.run(scenario())


def test_large_frames_are_checked_off_the_event_loop(tmp_path: Path) -> None:
    """A 2 MB CALL takes about a second of schema validation. The loop goes on meanwhile:
    a ticker task advances between the frame coming in and its answer going out (on the
    old code both happened in one synchronous step, with no tick in between)."""
    ticks = [0]
    marks: dict[str, int] = {}
    item = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    items: list[Any] = [item] * 20000 + [{"component": {"name": 5}, "variable": {"name": "X"}}]
    big = json.dumps([2, "big-1", "GetVariables", {"getVariableData": items}])
    assert len(big) > 1_500_000

    def probe(direction: str, text: str) -> None:
        if direction == "in" and '"big-1"' in text[:20]:
            marks["in"] = ticks[0]
        elif direction == "out" and '"big-1"' in text[:20]:
            marks["out"] = ticks[0]

    async def ticker() -> None:
        while True:
            ticks[0] += 1
            await asyncio.sleep(0)

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            station = OcppStation(
                config(csms.port), tmp_path / "evse.db", StationSide(), on_frame=probe
            )
            task = asyncio.create_task(station.run())
            tick = asyncio.create_task(ticker())
            try:
                await asyncio.wait_for(station.connected.wait(), 20)
                await csms.send_raw(big)
                await eventually(lambda: "out" in marks, 60)
            finally:
                for t in (task, tick):
                    t.cancel()
                await asyncio.gather(task, tick, return_exceptions=True)
            reply = next(json.loads(t) for _, d, t in csms.frames if d == "in" and "big-1" in t)
            assert reply[:3] == [4, "big-1", "TypeConstraintViolation"]

    asyncio.run(scenario())
    assert marks["out"] > marks["in"], marks
