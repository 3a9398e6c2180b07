"""Priority charging (OCPP 2.1 K21 remote, K22 local; K01.FR.70/71) on a real
OcppStation (SQLite on disk) driven by the scripted CSMS: a PriorityCharging profile
does nothing until priority charging is on for the transaction; then it overrules the
TxProfile / TxDefaultProfile in the composite schedule (still capped by the station
maximum), until switched off, the station restarts (it stays on) or the transaction
ends (it is gone)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ocpp_support import PASSWORD, StationSide, config, eventually
from test_ocpp_smart_charging import profile, set_profile, station_on

from evse.ocpp.interfaces import EvPlugged, EvUnplugged, PowerPathClosed
from evse.ocpp.schemas import OcppVersion, SchemaSet
from evse.ocpp.station import OcppStation
from evse.sim.csms import ScriptedCsms
from tests.conftest import WAIT_S

PRIO = profile(9, "PriorityCharging", [{"startPeriod": 0, "limit": 11000}], kind="Relative")


async def start_tx(station: OcppStation) -> str:
    station.notify(EvPlugged(1))
    await station.present_id_token(1, {"idToken": "TAG1", "type": "ISO14443"})
    station.notify(PowerPathClosed(1))
    await eventually(lambda: station.tx.evses[1].transaction_id is not None)
    tx_id = station.tx.evses[1].transaction_id
    assert tx_id is not None
    return tx_id


@contextlib.asynccontextmanager
async def resumed(csms: ScriptedCsms, db: Path) -> AsyncIterator[OcppStation]:
    """An OcppStation whose open transaction goes on after a restart (E17)."""
    cfg = config(csms.port, variables={"TxCtrlr.TxResumptionTimeout": 600})
    station = OcppStation(cfg, db, StationSide())
    task = asyncio.create_task(station.run())
    try:
        await asyncio.wait_for(station.connected.wait(), WAIT_S)
        await csms.wait_until(lambda: len(csms.stations) == 1, WAIT_S)
        yield station
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def limit(station: OcppStation) -> Any:
    return (station.current_period(1) or {}).get("limit")


def test_k21_use_priority_charging_overrules_tx_default_k01_fr_70_71(tmp_path: Path) -> None:
    db = tmp_path / "evse.db"

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            async with resumed(csms, db) as station:
                default = profile(1, "TxDefaultProfile", [{"startPeriod": 0, "limit": 4000}])
                cap = profile(2, "ChargingStationMaxProfile", [{"startPeriod": 0, "limit": 9000}])
                assert (await set_profile(csms, 1, default))["status"] == "Accepted"
                assert (await set_profile(csms, 0, cap))["status"] == "Accepted"
                tx_id = await start_tx(station)
                use = {"transactionId": tx_id, "activate": True}
                # K21: no PriorityCharging profile yet: NoProfile.
                assert (await csms.call("UsePriorityCharging", use))["status"] == "NoProfile"
                # K01.FR.70: no duration; K01.FR.71: only ChargingOnly.
                timed = profile(
                    9, "PriorityCharging", [{"startPeriod": 0, "limit": 11000}], kind="Relative"
                )
                timed["chargingSchedule"][0]["duration"] = 3600
                answer = await set_profile(csms, 1, timed)
                assert answer["status"] == "Rejected"
                assert "K01.FR.70" in answer["statusInfo"]["additionalInfo"]
                v2x = profile(
                    9,
                    "PriorityCharging",
                    [
                        {
                            "startPeriod": 0,
                            "limit": 11000,
                            "setpoint": 5000,
                            "operationMode": "CentralSetpoint",
                        }
                    ],
                    kind="Relative",
                )
                assert (await set_profile(csms, 1, v2x))["status"] == "Rejected"
                assert (await set_profile(csms, 1, PRIO))["status"] == "Accepted"
                assert limit(station) == 4000  # installed, not in use until asked for
                unknown = {"transactionId": "nope", "activate": True}
                answer = await csms.call("UsePriorityCharging", unknown)
                assert answer["status"] == "Rejected"
                assert answer["statusInfo"]["reasonCode"] == "TxNotFound"
                assert (await csms.call("UsePriorityCharging", use))["status"] == "Accepted"
                assert limit(station) == 9000  # overrules the default, capped by the max
                off = {"transactionId": tx_id, "activate": False}
                assert (await csms.call("UsePriorityCharging", off))["status"] == "Accepted"
                assert limit(station) == 4000
                assert (await csms.call("UsePriorityCharging", use))["status"] == "Accepted"
            async with resumed(csms, db) as station:  # a restart (E17) keeps it on
                await eventually(lambda: station.tx.evses[1].transaction_id == tx_id)
                await eventually(lambda: limit(station) == 9000)
                station.notify(EvUnplugged(1))
                await eventually(lambda: station.tx.evses[1].transaction_id is None)
                assert limit(station) == 4000  # it ended with the transaction
            assert csms.errors_sent == []

    asyncio.run(scenario())


def test_k22_priority_charging_requested_locally_notifies_the_csms(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            ScriptedCsms(passwords={"CS001": PASSWORD}) as csms,
            station_on(csms, tmp_path / "evse.db") as station,
        ):
            default = profile(1, "TxDefaultProfile", [{"startPeriod": 0, "limit": 4000}])
            assert (await set_profile(csms, 1, default))["status"] == "Accepted"
            tx_id = await start_tx(station)
            prio = station.smart.priority
            assert prio.request_local(1, True) is False  # no PriorityCharging profile
            assert (await set_profile(csms, 1, PRIO))["status"] == "Accepted"
            assert prio.request_local(1, True) is True
            assert limit(station) == 11000
            assert prio.request_local(1, False) is False
            assert limit(station) == 4000
            await csms.wait_until(lambda: len(csms.of("NotifyPriorityCharging")) == 2, 30)
            notes = csms.of("NotifyPriorityCharging")
            assert notes == [
                {"transactionId": tx_id, "activated": True},
                {"transactionId": tx_id, "activated": False},
            ]
            schemas = SchemaSet(OcppVersion.V21)
            assert all(schemas.check("NotifyPriorityCharging", "Request", n) is None for n in notes)

    asyncio.run(scenario())
