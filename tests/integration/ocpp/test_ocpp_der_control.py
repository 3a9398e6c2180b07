"""R04 / R05 over a real WebSocket: a scripted CSMS sends Set / Get / ClearDERControl to
the OcppStation (SQLite on disk); the set in force reaches the station port whole;
NotifyDERStartStop on start and expiry; controls survive a restart (TC_R_100);
NotifyDERAlarm waits, persisted and in order, while the CSMS is away."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp_support import PASSWORD, StationSide, config, eventually

from evse.ocpp.clock import iso
from evse.ocpp.interfaces import DerAlarm
from evse.ocpp.station import OcppStation
from evse.sim.csms import ScriptedCsms
from tests.conftest import WAIT_S

Payload = dict[str, Any]


class DerSide(StationSide):
    def __init__(self) -> None:
        super().__init__()
        self.sets: list[list[Payload]] = []

    def set_der_directives(self, directives: list[Payload]) -> None:
        self.sets.append(directives)

    def ids(self) -> list[str]:
        return [d["controlId"] for d in self.sets[-1]] if self.sets else []


def trip(cid: str, prio: int, default: bool = True, **sched: Any) -> Payload:
    curve = {
        "priority": prio,
        "yUnit": "Not_Applicable",
        "curveData": [{"x": 0.2, "y": 52.0}, {"x": 1.0, "y": 50.5}],  # x = time s, y = Hz
        **sched,
    }
    return {"controlId": cid, "controlType": "HFMustTrip", "isDefault": default, "curve": curve}


class Rig:
    def __init__(self, tmp: Path, csms: ScriptedCsms) -> None:
        self.tmp, self.csms, self.side = tmp, csms, DerSide()
        self.station: OcppStation | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> OcppStation:
        self.station = OcppStation(config(self.csms.port), self.tmp / "evse.db", self.side)
        self.task = asyncio.create_task(self.station.run())
        await asyncio.wait_for(self.station.connected.wait(), WAIT_S)
        return self.station

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def run(tmp: Path, body: Any) -> None:
    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            rig = Rig(tmp, csms)
            try:
                await body(rig)
            finally:
                await rig.stop()
            assert csms.errors_sent == []

    asyncio.run(scenario())


def test_r04_fr01_fr15_fr16_rejections_reach_the_csms(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await rig.start()
        may = {**trip("m", 1), "controlType": "HFMayTrip"}  # not in DCDERCtrlr.ModesSupported
        assert (await rig.csms.call("SetDERControl", may))["status"] == "NotSupported"
        two = {**trip("x", 1), "freqDroop": {"priority": 1, "overFreq": 50.2, "underFreq": 49.8,
                                             "overDroop": 5, "underDroop": 5, "responseTime": 2}}
        res = await rig.csms.call("SetDERControl", two)
        assert res["status"] == "Rejected" and res["statusInfo"]["additionalInfo"]
        es = {"priority": 1, "highVoltage": 110, "lowVoltage": 90, "highFreq": 50.1,
              "lowFreq": 47.5}
        req = {"controlId": "e", "controlType": "EnterService", "isDefault": False,
               "enterService": es}
        assert (await rig.csms.call("SetDERControl", req))["status"] == "Rejected"
        res = await rig.csms.call("GetDERControl", {"requestId": 1})
        assert res["status"] == "NotFound"  # R04.FR.30: nothing was stored

    run(tmp_path, body)


def test_r04_tc_r_103_value_rules_hal_runs_reach_the_csms(tmp_path: Path) -> None:
    # A curve hal would refuse (trip stages with time and frequency swapped) is Rejected
    # at once, with the rule named, and nothing is stored (hal.der_parse on both sides).
    async def body(rig: Rig) -> None:
        await rig.start()
        bad = trip("swapped", 1)
        bad["curve"]["curveData"] = [{"x": 50.5, "y": 0.2}, {"x": 52.0, "y": 0.1}]
        res = await rig.csms.call("SetDERControl", bad)
        assert res["status"] == "Rejected"
        assert res["statusInfo"]["reasonCode"] == "ValueOutOfRange"
        assert "HFMustTrip: point 0 y=0.2 outside" in res["statusInfo"]["additionalInfo"]
        assert (await rig.csms.call("GetDERControl", {"requestId": 2}))["status"] == "NotFound"

    run(tmp_path, body)


def test_r04_fr03_fr08_supersede_and_set_in_force_sent_whole(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await rig.start()
        await eventually(lambda: rig.side.sets == [[]])  # hal told at start: nothing
        assert await rig.csms.call("SetDERControl", trip("a", 5)) == {"status": "Accepted"}
        await eventually(lambda: rig.side.ids() == ["a"])
        res = await rig.csms.call("SetDERControl", trip("b", 2))
        assert res == {"status": "Accepted", "supersededIds": ["a"]}  # R04.FR.03
        await eventually(lambda: rig.side.ids() == ["b"])
        res = await rig.csms.call("SetDERControl", trip("c", 7))
        assert res == {"status": "Accepted", "supersededIds": ["c"]}  # R04.FR.08
        assert rig.side.ids() == ["b"]

    run(tmp_path, body)


def test_r04_fr20_fr22_start_stop_notified_and_hal_follows(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await rig.start()
        start = datetime.now(UTC) + timedelta(seconds=1.5)
        req = trip("s", 1, default=False, startTime=iso(start), duration=2)
        assert (await rig.csms.call("SetDERControl", req))["status"] == "Accepted"
        assert rig.side.ids() == []  # not yet in force
        await rig.csms.wait_until(lambda: len(rig.csms.of("NotifyDERStartStop")) == 2, WAIT_S)
        first, second = rig.csms.of("NotifyDERStartStop")
        assert first == {"controlId": "s", "started": True, "timestamp": iso(start)}
        assert second["controlId"] == "s" and second["started"] is False
        assert ["s"] in [[d["controlId"] for d in s] for s in rig.side.sets]
        assert rig.side.ids() == []  # expired: gone from hal again
        res = await rig.csms.call("GetDERControl", {"requestId": 2})
        assert res["status"] == "NotFound"

    run(tmp_path, body)


def test_tc_r_100_controls_survive_restart_and_get_report_clear(tmp_path: Path) -> None:
    """TC_R_100 persistence; R04.FR.31/32 ReportDERControl with tbc; R04.FR.41-46."""

    async def body(rig: Rig) -> None:
        await rig.start()
        for i in range(20):
            assert (await rig.csms.call("SetDERControl", trip(f"c{i:02d}", 3)))["status"] == (
                "Accepted"
            )
        await rig.stop()
        n_sets = len(rig.side.sets)
        await rig.start()  # a fresh station on the same database
        await eventually(lambda: len(rig.side.sets) > n_sets)
        assert rig.side.ids() == ["c00"]  # sent to hal again at start
        res = await rig.csms.call("GetDERControl", {"requestId": 9, "isDefault": True})
        assert res["status"] == "Accepted"
        await rig.csms.wait_until(lambda: len(rig.csms.of("ReportDERControl")) == 2, WAIT_S)
        reports = rig.csms.of("ReportDERControl")
        assert [r.get("tbc", False) for r in reports] == [True, False]
        assert sorted(c["id"] for r in reports for c in r["curve"]) == [
            f"c{i:02d}" for i in range(20)
        ]
        res = await rig.csms.call("ClearDERControl", {"isDefault": True, "controlId": "c00"})
        assert res["status"] == "Accepted"
        await eventually(lambda: rig.side.ids() == ["c01"])
        res = await rig.csms.call("ClearDERControl", {"isDefault": False})
        assert res["status"] == "NotFound"
        res = await rig.csms.call(
            "ClearDERControl", {"isDefault": True, "controlType": "HFMustTrip"}
        )
        assert res["status"] == "Accepted"
        await eventually(lambda: rig.side.ids() == [])

    run(tmp_path, body)


def test_r05_alarms_offline_delivered_in_order_with_event_time(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        station = await rig.start()
        port = rig.csms.port
        await rig.csms.stop()
        await eventually(lambda: not station.connected.is_set())
        t1 = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
        station.notify(DerAlarm(1, "HFMustTrip", "OverFrequency", False, "f=50.6", t1))
        station.notify(DerAlarm(1, "HFMustTrip", "OverFrequency", True, "", t1 + timedelta(1)))
        await rig.stop()  # a restart while offline: the alarms are on disk
        await rig.csms.start(port=port)
        await rig.start()
        await rig.csms.wait_until(lambda: len(rig.csms.of("NotifyDERAlarm")) == 2, WAIT_S)
        assert rig.csms.of("NotifyDERAlarm") == [
            {"controlType": "HFMustTrip", "alarmEnded": False, "gridEventFault": "OverFrequency",
             "timestamp": iso(t1), "extraInfo": "f=50.6"},
            {"controlType": "HFMustTrip", "alarmEnded": True, "gridEventFault": "OverFrequency",
             "timestamp": iso(t1 + timedelta(1))},
        ]

    run(tmp_path, body)


def test_tc_r_101_der_and_v2x_components_in_notify_report(tmp_path: Path) -> None:
    """TC_R_101: DCDERCtrlr, ACDERCtrlr and V2XChargingCtrlr are reported per EVSE; an
    enabled ACDERCtrlr adds its ModesSupported to what SetDERControl accepts (R04.FR.01)."""

    async def body(rig: Rig) -> None:
        station = await rig.start()
        res = await rig.csms.call("GetBaseReport", {"requestId": 3, "reportBase": "FullInventory"})
        assert res["status"] == "Accepted"
        await rig.csms.wait_until(
            lambda: any(not r["tbc"] for r in rig.csms.of("NotifyReport")), WAIT_S
        )
        data = [d for r in rig.csms.of("NotifyReport") for d in r.get("reportData", [])]
        seen = {
            (c["name"], c.get("evse", {}).get("id"), d["variable"]["name"])
            for d in data
            for c in [d["component"]]
        }
        for want in [
            ("DCDERCtrlr", 1, "ModesSupported"),
            ("DCDERCtrlr", 1, "Enabled"),
            ("DCDERCtrlr", 1, "MaxW"),
            ("ACDERCtrlr", 1, "ModesSupported"),
            ("ACDERCtrlr", 1, "Enabled"),
            ("V2XChargingCtrlr", 1, "SupportedOperationModes"),
            ("V2XChargingCtrlr", 1, "Enabled"),
        ]:
            assert want in seen, want
        assert "HFMayTrip" not in station.der.supported()
        dm = station.dm
        ac_modes, ac_on = dm.find("ACDERCtrlr", "ModesSupported", 1), dm.find(
            "ACDERCtrlr", "Enabled", 1
        )
        assert ac_modes is not None and ac_on is not None
        dm.set_internal(ac_modes, "HFMayTrip")
        assert "HFMayTrip" not in station.der.supported()  # not enabled
        dm.set_internal(ac_on, "true")
        assert "HFMayTrip" in station.der.supported()
        dc_on = dm.find("DCDERCtrlr", "Enabled", 1)
        assert dc_on is not None
        dm.set_internal(dc_on, "false")
        assert station.der.supported() == {"HFMayTrip"}

    run(tmp_path, body)
