"""K01 / R04 (TC_R_100) together: `evse run` is killed with SIGKILL at seeded random
moments (8 times) while a scripted CSMS keeps setting and clearing charging profiles and
DER controls (defaults, and scheduled ones that start now or a little later), with hal
and the simulated grid as real processes. After the last restart:
- the profiles (ReportChargingProfiles) and DER controls (ReportDERControl) in force are
  exactly those the CSMS last got Accepted for (a call the kill cut may have gone
  either way), each id once;
- hal holds the set in force of the controls evse stored (its welcome);
- every scheduled control that started got one NotifyDERStartStop(started) (R04.FR.20),
  never two; the station's queue is empty (nothing queued was lost)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evse.ocpp import der_rules
from evse.ocpp.clock import iso
from evse.ocpp.endpoint import CallTimeout, ConnectionLost, OcppCallError
from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from tests.integration.test_der_alarm_evse_down import PASSWORD
from tests.integration.test_evse_restart import WAIT, Station, observer

KILLS = 8
SEED = 20261202
Payload = dict[str, Any]
HF = [{"x": 0.1, "y": 52.5}, {"x": 0.2, "y": 52.0}]  # far from the sim grid's 50 Hz
LF = [{"x": 0.1, "y": 47.0}, {"x": 0.2, "y": 47.5}]


def profile(pid: int, limit: float) -> Payload:
    return {
        "id": pid,
        "stackLevel": pid,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": pid,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            }
        ],
    }


def der(cid: str, ctype: str, start: datetime | None) -> Payload:
    sched = {} if start is None else {"startTime": iso(start), "duration": 3600.0}
    if ctype == "LimitMaxDischarge":
        body: Payload = {"priority": 1, "pctMaxDischargePower": 50.0, **sched}
        return {
            "controlId": cid,
            "controlType": ctype,
            "isDefault": start is None,
            "limitMaxDischarge": body,
        }
    points = HF if ctype == "HFMustTrip" else LF
    curve = {"priority": 1, "yUnit": "Not_Applicable", "curveData": points, **sched}
    return {"controlId": cid, "controlType": ctype, "isDefault": start is None, "curve": curve}


class Driver:
    """The CSMS side: random changes; what was last Accepted, per id."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.profiles: dict[int, float | None] = {}  # id -> limit (None: cleared)
        self.controls: dict[str, bool] = {}  # id -> stored (False: cleared)
        self.unsure: set[object] = set()  # ids whose last call the kill cut
        self.scheduled = 0

    async def step(self, csms: ScriptedCsms) -> None:
        rng, choice = self.rng, self.rng.random()
        if choice < 0.3:
            pid, limit = rng.randrange(1, 7), float(rng.randrange(1000, 11000, 500))
            key: object = pid
            ans = await self.call(
                csms,
                key,
                "SetChargingProfile",
                {"evseId": 1, "chargingProfile": profile(pid, limit)},
            )
            if ans == "Accepted":
                self.profiles[pid] = limit
        elif choice < 0.45:
            key = pid = rng.randrange(1, 7)
            ans = await self.call(csms, key, "ClearChargingProfile", {"chargingProfileId": pid})
            if ans in ("Accepted", "Unknown"):
                self.profiles[pid] = None
        elif choice < 0.85:
            ctype = rng.choice(["HFMustTrip", "LFMustTrip", "LimitMaxDischarge"])
            start = None
            cid = f"default-{ctype}"  # one default per type, replaced in place
            if rng.random() < 0.6:  # scheduled: a fresh id, starting now or in 0-3 s
                self.scheduled += 1
                cid = f"sched-{self.scheduled}"
                start = datetime.now(UTC) + timedelta(seconds=rng.uniform(-1.0, 3.0))
            ans = await self.call(csms, cid, "SetDERControl", der(cid, ctype, start))
            if ans == "Accepted":
                self.controls[cid] = True
        else:
            known = sorted(self.controls)
            if not known:
                return
            cid = rng.choice(known)
            ans = await self.call(
                csms,
                cid,
                "ClearDERControl",
                {"isDefault": cid.startswith("default"), "controlId": cid},
            )
            if ans in ("Accepted", "NotFound"):
                self.controls[cid] = False

    async def call(self, csms: ScriptedCsms, key: object, action: str, payload: Payload) -> str:
        self.unsure.add(key)  # until the answer is in
        answer = await csms.call(action, payload)
        self.unsure.discard(key)
        return str(answer["status"])

    async def run(self, csms: ScriptedCsms) -> None:
        with contextlib.suppress(ConnectionLost, CallTimeout, OcppCallError, LookupError):
            while True:
                await self.step(csms)


def booted(csms: ScriptedCsms, boots: int) -> bool:
    seen = 0
    for r in csms.received:
        seen += r.action == "BootNotification"
        if seen >= boots and r.action == "StatusNotification":
            return True
    return False


def test_k01_r04_tc_r_100_kill9_while_profiles_and_der_controls_change(
    short_tmp: Path,
) -> None:
    rng = random.Random(SEED)
    drv = Driver(rng)
    db = short_tmp / "evse" / "evse.sqlite"

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            st = Station(
                short_tmp,
                csms.port,
                {
                    "OCPPCommCtrlr.RetryBackOffWaitMinimum": 1,
                    "OCPPCommCtrlr.RetryBackOffRandomRange": 0,
                },
            )
            st.hal.start()
            obs: Any = None
            try:
                for boot in range(1, KILLS + 1):
                    await st.start_evse()
                    await csms.wait_until(lambda b=boot: booted(csms, b), WAIT)  # type: ignore[misc]
                    driver = asyncio.create_task(drv.run(csms))
                    await asyncio.sleep(rng.uniform(0.2, 1.5))
                    assert await st.end_evse(signal.SIGKILL) == -signal.SIGKILL
                    await asyncio.wait_for(driver, WAIT)
                    await csms.wait_until(lambda: not csms.stations, WAIT)
                await st.start_evse()
                await csms.wait_until(lambda: booted(csms, KILLS + 1), WAIT)
                await asyncio.sleep(4.0)  # scheduled controls set last have started
                await check(csms, db)
                obs = observer(st.hal)
                welcome = await asyncio.to_thread(obs.wait_for, p.Welcome, WAIT)
                assert sorted(welcome.directive_ids) == sorted(in_force(db))
            finally:
                if obs is not None:
                    obs.close()
                await st.close()

    async def check(csms: ScriptedCsms, db: Path) -> None:
        # Profiles: exactly the last Accepted state (ids the kill left unsure: either).
        ans = await csms.call("GetChargingProfiles", {"requestId": 901, "chargingProfile": {}})
        want = {pid for pid, limit in drv.profiles.items() if limit is not None}
        got_ids: list[int] = []
        if ans["status"] == "Accepted":
            await csms.wait_until(
                lambda: any(
                    r["requestId"] == 901 and not r.get("tbc")
                    for r in csms.of("ReportChargingProfiles")
                ),
                WAIT,
            )
            reports = [r for r in csms.of("ReportChargingProfiles") if r["requestId"] == 901]
            got_ids = [prof["id"] for r in reports for prof in r["chargingProfile"]]
            limits = {
                prof["id"]: prof["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
                for r in reports
                for prof in r["chargingProfile"]
            }
            for pid in want - drv.unsure:
                assert limits.get(pid) == drv.profiles[pid], f"profile {pid}"
        assert len(got_ids) == len(set(got_ids)), "a profile id reported twice"
        assert set(got_ids) - drv.unsure == want - drv.unsure
        # DER controls: the same.
        ans = await csms.call("GetDERControl", {"requestId": 902})
        cids: list[str] = []
        if ans["status"] == "Accepted":
            await csms.wait_until(
                lambda: any(
                    r["requestId"] == 902 and not r.get("tbc") for r in csms.of("ReportDERControl")
                ),
                WAIT,
            )
            for r in csms.of("ReportDERControl"):
                if r["requestId"] == 902:
                    cids += [c["id"] for k, v in r.items() if isinstance(v, list) for c in v]
        assert len(cids) == len(set(cids)), "a DER control id reported twice"
        stored = {c for c, on in drv.controls.items() if on}
        assert set(cids) - drv.unsure == stored - drv.unsure
        # NotifyDERStartStop: once per start, and every started control got its one.
        starts = [n["controlId"] for n in calls(csms, "NotifyDERStartStop") if n["started"]]
        assert len(starts) == len(set(starts)), f"a start notified twice: {sorted(starts)}"
        for cid in cids:
            if cid.startswith("sched-"):
                assert cid in starts, f"{cid} started without NotifyDERStartStop"
        async with asyncio.timeout(WAIT):  # every queued message reaches the CSMS
            while queued(db):  # noqa: ASYNC110 - polls the station's database
                await asyncio.sleep(0.1)
        print(
            f"q/r kill9: {KILLS} kills, {len(got_ids)} profiles, {len(cids)} DER controls,"
            f" {len(starts)} starts, {len(drv.unsure)} cut calls"
        )
        assert drv.profiles and drv.controls

    asyncio.run(scenario())


def calls(csms: ScriptedCsms, action: str) -> list[Payload]:
    """The station's CALLs of `action`, one per message id: a CALL sent again after its
    answer was lost with the connection (same id, OCPP at-least-once) counts once."""
    out: dict[str, Payload] = {}
    for _, direction, text in csms.frames:
        msg = json.loads(text) if direction == "in" else None
        if isinstance(msg, list) and msg[0] == 2 and msg[2] == action:
            out.setdefault(msg[1], msg[3])
    return list(out.values())


def queued(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM ocpp_queue").fetchone()[0])


def in_force(db: Path) -> list[str]:
    """The ids of the set in force of what evse stored (what hal must hold)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT control_id, data FROM der_controls").fetchall()
    records = {str(c): der_rules.DerRecord.from_json(json.loads(d)) for c, d in rows}
    return [str(r["controlId"]) for r in der_rules.in_force(records, datetime.now(UTC))]
