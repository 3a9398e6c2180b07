"""The OCPP station against a scripted CSMS on loopback: a new HeartbeatInterval applies at
once (G02; issue 9), a station event for an EVSE the station does not have leaves it
running (issue 10: nothing may end the OCPP task), and a transaction resumed after a
reboot (E17) gets energy again while it stays authorized (issue 10)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocpp_support import PASSWORD, StationSide, config, eventually, reading

from evse.ocpp.clock import SimClock
from evse.ocpp.interfaces import EvPlugged, PowerPathClosed
from evse.ocpp.station import OcppStation
from evse.sim.csms import ScriptedCsms


def _set_heartbeat(value: str) -> dict[str, object]:
    return {
        "setVariableData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "attributeValue": value,
            }
        ]
    }


def test_g02_changed_heartbeat_interval_applies_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            station = OcppStation(
                config(csms.port), tmp_path / "evse.db", StationSide(), clock=clock
            )
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), 20)
                assert station.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 300
                res = await csms.call("SetVariables", _set_heartbeat("10"))
                assert res["setVariableResult"][0]["attributeStatus"] == "Accepted"
                await clock.advance(11)  # far short of the old 300 s
                await csms.wait_until(lambda: len(csms.of("Heartbeat")) == 1, 20)
                await clock.advance(10)
                await csms.wait_until(lambda: len(csms.of("Heartbeat")) == 2, 20)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_station_event_for_unknown_evse_leaves_the_station_running(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            cfg = config(csms.port, variables={"TxCtrlr.TxStartPoint": "EVConnected"})
            station = OcppStation(cfg, tmp_path / "evse.db", StationSide())
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), 20)
                station.notify(EvPlugged(9))  # no EVSE 9 here
                station.notify(EvPlugged(1))
                await csms.wait_until(lambda: len(csms.of("TransactionEvent")) == 1, 20)
                assert not task.done()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_e17_resumed_transaction_gets_energy_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            cfg = config(csms.port, variables={"TxCtrlr.TxResumptionTimeout": 600})
            db = tmp_path / "evse.db"
            side = StationSide()
            station = OcppStation(cfg, db, side)
            task = asyncio.create_task(station.run())
            await asyncio.wait_for(station.connected.wait(), 20)
            station.notify(EvPlugged(1))
            await station.present_id_token(1, {"idToken": "T", "type": "ISO14443"})
            station.notify(PowerPathClosed(1))
            await csms.wait_until(lambda: len(csms.of("TransactionEvent")) >= 1, 20)
            assert side.allowed[1]
            task.cancel()  # the controller goes (kill -9, crash, power)
            await asyncio.gather(task, return_exceptions=True)
            side = StationSide()  # a new process: nothing allowed yet
            station = OcppStation(cfg, db, side)
            task = asyncio.create_task(station.run())
            try:
                await csms.wait_until(
                    lambda: any(
                        e["triggerReason"] == "TxResumed" for e in csms.of("TransactionEvent")
                    ),
                    20,
                )
                await eventually(lambda: side.allowed.get(1) is True, 20)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def _register(event: dict[str, object]) -> float | None:
    for mv in event.get("meterValue", []):  # type: ignore[attr-defined]
        for sv in mv["sampledValue"]:
            if sv.get("measurand") == "Energy.Active.Import.Register":
                return float(sv["value"])
    return None


def test_import_register_never_falls_mid_transaction(tmp_path: Path) -> None:
    """A meter that restarts at 0 mid-transaction: its register is left out of the meter
    values (the other measurands still go) until it is above the last one sent again."""

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            cfg = config(csms.port, variables={"TxCtrlr.TxStartPoint": "EVConnected"})
            side = StationSide()
            station = OcppStation(cfg, tmp_path / "evse.db", side)
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), 20)
                side.readings[1] = reading(import_wh=100.0, power_w=7000.0)
                station.notify(EvPlugged(1))
                await csms.wait_until(lambda: len(csms.of("TransactionEvent")) == 1, 20)
                side.readings[1] = reading(import_wh=150.0, power_w=7000.0)
                station.tx.trigger_updates(1)
                side.readings[1] = reading(import_wh=0.0, power_w=7000.0)  # meter restarted
                station.tx.trigger_updates(1)
                side.readings[1] = reading(import_wh=160.0, power_w=7000.0)
                station.tx.trigger_updates(1)
                await csms.wait_until(lambda: len(csms.of("TransactionEvent")) == 4, 20)
                events = csms.of("TransactionEvent")
                assert [_register(e) for e in events] == [100.0, 150.0, None, 160.0]
                powers = [sv["measurand"] for sv in events[2]["meterValue"][0]["sampledValue"]]
                assert "Power.Active.Import" in powers
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
