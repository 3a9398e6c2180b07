"""Smart charging end to end: the scripted CSMS sets, reads, clears profiles on a real
OcppStation (SQLite on disk), asks for the composite schedule, drives Q04; the profiles
survive a restart of the station."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp_support import PASSWORD, StationSide, config, eventually

from evse.ocpp.interfaces import EvPlugged, EvUnplugged, PowerPathClosed
from evse.ocpp.station import OcppStation
from evse.sim.csms import ScriptedCsms
from tests.conftest import WAIT_S

START = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
CURVE = [{"frequency": 49.8, "power": 5000}, {"frequency": 50.2, "power": -5000}]


def profile(pid: int, purpose: str, periods: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    kind = extra.pop("kind", "Absolute")
    schedule: dict[str, Any] = {"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": periods}
    if kind != "Relative":
        schedule["startSchedule"] = START
    return {
        "id": pid,
        "stackLevel": extra.pop("stackLevel", 0),
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }


@contextlib.asynccontextmanager
async def station_on(csms: ScriptedCsms, db: Path) -> AsyncIterator[OcppStation]:
    station = OcppStation(config(csms.port), db, StationSide())
    task = asyncio.create_task(station.run())
    try:
        await asyncio.wait_for(station.connected.wait(), WAIT_S)
        await csms.wait_until(lambda: len(csms.stations) == 1, WAIT_S)
        yield station
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def set_profile(csms: ScriptedCsms, evse_id: int, p: dict[str, Any]) -> dict[str, Any]:
    return await csms.call("SetChargingProfile", {"evseId": evse_id, "chargingProfile": p})


def test_K01_set_profiles_rejected_with_reason_K08_composite_K09_report_survive_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "evse.db"

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            async with station_on(csms, db) as station:
                bad = [
                    # CentralSetpoint without setpoint
                    (
                        1,
                        profile(
                            3,
                            "TxDefaultProfile",
                            [{"startPeriod": 0, "limit": 7000, "operationMode": "CentralSetpoint"}],
                        ),
                    ),
                    # K01.FR.09: no transaction on EVSE 1
                    (
                        1,
                        profile(
                            4, "TxProfile", [{"startPeriod": 0, "limit": 1}], transactionId="X"
                        ),
                    ),
                    # Q08.FR.02
                    (
                        1,
                        profile(
                            5,
                            "TxDefaultProfile",
                            [
                                {
                                    "startPeriod": 0,
                                    "v2xBaseline": 0,
                                    "operationMode": "LocalFrequency",
                                }
                            ],
                        ),
                    ),
                    # mode not allowed for the purpose
                    (
                        0,
                        profile(
                            6,
                            "ChargingStationMaxProfile",
                            [{"startPeriod": 0, "limit": 1, "operationMode": "Idle"}],
                        ),
                    ),
                ]
                reasons = []
                for evse_id, p in bad:
                    answer = await set_profile(csms, evse_id, p)
                    assert answer["status"] == "Rejected"
                    reasons.append(answer["statusInfo"]["reasonCode"])
                assert reasons == [
                    "InvalidSchedule",
                    "TxNotFound",
                    "NoFreqWattCurve",
                    "InvalidSchedule",
                ]
                assert station.current_period(1) is None  # nothing rejected was installed

                station_max = profile(
                    1, "ChargingStationMaxProfile", [{"startPeriod": 0, "limit": 6000}]
                )
                tx_default = profile(
                    2,
                    "TxDefaultProfile",
                    [
                        {
                            "startPeriod": 0,
                            "limit": 9000,
                            "limit_L2": 3000,
                            "dischargeLimit": -5000,
                            "setpoint": 4000,
                            "operationMode": "CentralSetpoint",
                        }
                    ],
                )
                assert (await set_profile(csms, 0, station_max))["status"] == "Accepted"
                assert (await set_profile(csms, 1, tx_default))["status"] == "Accepted"
                dup = profile(7, "TxDefaultProfile", [{"startPeriod": 0, "limit": 1}])
                answer = await set_profile(csms, 1, dup)  # K01.FR.06
                assert answer["statusInfo"]["reasonCode"] == "DuplicateProfile"

                composite = await csms.call(
                    "GetCompositeSchedule", {"duration": 600, "evseId": 1, "chargingRateUnit": "W"}
                )
                assert composite["status"] == "Accepted"
                first = composite["schedule"]["chargingSchedulePeriod"][0]
                assert first["limit"] == 6000  # K08: the station maximum is tighter
                assert first["limit_L2"] == 3000
                assert first["setpoint"] == 4000
                assert first["operationMode"] == "CentralSetpoint"
                period = station.current_period(1)
                assert period is not None and period["setpoint"] == 4000

                got = await csms.call(
                    "GetChargingProfiles", {"requestId": 11, "chargingProfile": {}}
                )
                assert got["status"] == "Accepted"
                await csms.wait_until(
                    lambda: any(not r["tbc"] for r in csms.of("ReportChargingProfiles")), WAIT_S
                )
                reports = csms.of("ReportChargingProfiles")
                ids = sorted(p["id"] for r in reports for p in r["chargingProfile"])
                assert ids == [1, 2] and {r["requestId"] for r in reports} == {11}
                none = await csms.call(
                    "GetChargingProfiles",
                    {"requestId": 12, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}},
                )
                assert none["status"] == "NoProfiles"

            # A new process on the same database: the profiles are back.
            async with station_on(csms, db) as station:
                period = station.current_period(1)
                assert period is not None and period["limit"] == 6000
                assert period["setpoint"] == 4000
                composite = await csms.call("GetCompositeSchedule", {"duration": 60, "evseId": 1})
                assert composite["schedule"]["chargingSchedulePeriod"][0]["limit"] == 6000
                cleared = await csms.call("ClearChargingProfile", {"chargingProfileId": 1})
                assert cleared["status"] == "Accepted"
                again = await csms.call("ClearChargingProfile", {"chargingProfileId": 1})
                assert again["status"] == "Unknown"  # K10
                period = station.current_period(1)
                assert period is not None and period["limit"] == 9000

            async with station_on(csms, db) as station:
                period = station.current_period(1)
                assert period is not None and period["limit"] == 9000  # the clear persisted

    asyncio.run(scenario())


def test_Q04_update_dynamic_schedule_and_pull_dynamic_schedule_update(tmp_path: Path) -> None:
    pulled = {"scheduleUpdate": {"setpoint": 2500.0}, "status": "Accepted"}

    async def scenario() -> None:
        async with (
            ScriptedCsms(
                passwords={"CS001": PASSWORD}, responses={"PullDynamicScheduleUpdate": pulled}
            ) as csms,
            station_on(csms, tmp_path / "evse.db") as station,
        ):
            period = {
                "startPeriod": 0,
                "limit": 8000,
                "dischargeLimit": -8000,
                "setpoint": 1000,
                "operationMode": "CentralSetpoint",
            }
            dyn = profile(9, "TxDefaultProfile", [period], kind="Dynamic")
            assert (await set_profile(csms, 1, dyn))["status"] == "Accepted"
            update = {"chargingProfileId": 9, "scheduleUpdate": {"setpoint": -3000}}
            answer = await csms.call("UpdateDynamicSchedule", update)
            assert answer["status"] == "Accepted"
            now = station.current_period(1)
            assert now is not None and now["setpoint"] == -3000
            unknown = await csms.call(
                "UpdateDynamicSchedule", {"chargingProfileId": 99, "scheduleUpdate": {}}
            )
            assert unknown["status"] == "Rejected"
            assert unknown["statusInfo"]["reasonCode"] == "NotFound"
            assert csms.of("PullDynamicScheduleUpdate") == []  # no interval: no pull

            dyn["dynUpdateInterval"] = 1
            assert (await set_profile(csms, 1, dyn))["status"] == "Accepted"
            await csms.wait_until(lambda: bool(csms.of("PullDynamicScheduleUpdate")), WAIT_S)
            assert csms.of("PullDynamicScheduleUpdate")[0] == {"chargingProfileId": 9}
            await eventually(lambda: (station.current_period(1) or {}).get("setpoint") == 2500)

    asyncio.run(scenario())


def test_K01_FR_03_tx_profile_for_the_running_transaction_then_gone_with_it(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with (
            ScriptedCsms(passwords={"CS001": PASSWORD}) as csms,
            station_on(csms, tmp_path / "evse.db") as station,
        ):
            default = profile(1, "TxDefaultProfile", [{"startPeriod": 0, "limit": 7000}])
            assert (await set_profile(csms, 1, default))["status"] == "Accepted"
            station.notify(EvPlugged(1))
            await station.present_id_token(1, {"idToken": "TAG1", "type": "ISO14443"})
            station.notify(PowerPathClosed(1))
            await eventually(lambda: station.tx.evses[1].transaction_id is not None)
            tx_id = station.tx.evses[1].transaction_id
            no_tx = profile(2, "TxProfile", [{"startPeriod": 0, "limit": 2000}])
            answer = await set_profile(csms, 1, no_tx)
            assert answer["statusInfo"]["reasonCode"] == "MissingParam"
            tx_profile = profile(
                2, "TxProfile", [{"startPeriod": 0, "limit": 2000}], transactionId=tx_id
            )
            assert (await set_profile(csms, 1, tx_profile))["status"] == "Accepted"
            assert (station.current_period(1) or {}).get("limit") == 2000
            station.notify(EvUnplugged(1))
            await eventually(lambda: station.tx.evses[1].transaction_id is None)
            assert (station.current_period(1) or {}).get("limit") == 7000
            got = await csms.call(
                "GetChargingProfiles",
                {"requestId": 1, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}},
            )
            assert got["status"] == "NoProfiles"  # deleted with its transaction

    asyncio.run(scenario())


def test_K09_report_charging_profiles_in_chunks_with_tbc(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            ScriptedCsms(passwords={"CS001": PASSWORD}) as csms,
            station_on(csms, tmp_path / "evse.db"),
        ):
            for level in range(6):
                p = profile(
                    10 + level,
                    "TxDefaultProfile",
                    [{"startPeriod": 0, "limit": 1000.0 + level}],
                    stackLevel=level,
                )
                assert (await set_profile(csms, 1, p))["status"] == "Accepted"
            got = await csms.call(
                "GetChargingProfiles", {"requestId": 3, "evseId": 1, "chargingProfile": {}}
            )
            assert got["status"] == "Accepted"
            await csms.wait_until(
                lambda: any(not r["tbc"] for r in csms.of("ReportChargingProfiles")), WAIT_S
            )
            reports = csms.of("ReportChargingProfiles")
            assert [r["tbc"] for r in reports] == [True, False]
            assert [len(r["chargingProfile"]) for r in reports] == [4, 2]
            assert {r["evseId"] for r in reports} == {1}
            assert {r["chargingLimitSource"] for r in reports} == {"CSO"}

    asyncio.run(scenario())


def test_Q11_max_offline_duration_falls_back_and_invalid_after_offline_persists(
    tmp_path: Path,
) -> None:
    """Offline past maxOfflineDuration a profile stops applying (the next lower stack level
    takes over); with invalidAfterOfflineDuration it stays invalid, across a restart."""
    db = tmp_path / "evse.db"
    lower = profile(1, "TxDefaultProfile", [{"startPeriod": 0, "limit": 3000}])
    timed = profile(
        2,
        "TxDefaultProfile",
        [{"startPeriod": 0, "limit": 9000}],
        stackLevel=1,
        maxOfflineDuration=60,
    )
    sticky = profile(
        3,
        "TxDefaultProfile",
        [{"startPeriod": 0, "limit": 8000}],
        stackLevel=2,
        maxOfflineDuration=120,
        invalidAfterOfflineDuration=True,
    )

    async def scenario() -> None:
        # Never connected: the handlers are driven directly, SQLite is real.
        station = OcppStation(config(1), db, StationSide())
        for p in (lower, timed, sticky):
            answer = await station.smart.on_set_charging_profile(
                {"evseId": 1, "chargingProfile": p}
            )
            assert answer["status"] == "Accepted"
        assert (station.current_period(1) or {}).get("limit") == 8000  # online: top level
        station._offline_since = station.clock.monotonic() - 90
        assert (station.current_period(1) or {}).get("limit") == 8000
        station._offline_since = station.clock.monotonic() - 130
        assert (station.current_period(1) or {}).get("limit") == 3000  # both past their limit
        station._offline_since = None  # back online
        assert (station.current_period(1) or {}).get("limit") == 9000  # sticky one stays out
        station.store.close()
        again = OcppStation(config(1), db, StationSide())
        assert (again.current_period(1) or {}).get("limit") == 9000
        again.store.close()

    asyncio.run(scenario())
