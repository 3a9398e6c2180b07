"""R04 / R05 end to end: a scripted CSMS, `evse run` and hal as real processes on the
simulated grid, which sits at 50.6 Hz from the second second on. The sim config has no
grid-code preset, so nothing trips at 50.6 Hz until the CSMS sends an HFMustTrip with a
50.5 Hz stage: then hal trips, and its der_alarm reaches the CSMS as NotifyDERAlarm.
With the CSMS away and evse killed with SIGKILL, the alarm and the control survive
(TC_R_100) and the alarm arrives, stamped with the time of the event, after it returns."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from evse.ocpp.clock import iso
from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from tests.integration.test_evse_restart import WAIT, Station, observer, wait_power

STEP = '[[sim.grid.events]]\nkind = "step"\nat_s = 1.0\nfrequency_hz = 50.6\n'


def hf_trip(cid: str, **sched: Any) -> dict[str, Any]:
    # x: clearing time (s), y: frequency (Hz): trip above 50.5 Hz after 0.2 s.
    curve = {
        "priority": 1,
        "yUnit": "Not_Applicable",
        "curveData": [{"x": 0.1, "y": 51.0}, {"x": 0.2, "y": 50.5}],
        **sched,
    }
    return {"controlId": cid, "controlType": "HFMustTrip", "isDefault": not sched, "curve": curve}


def station(tmp: Path, port: int) -> Station:
    st = Station(tmp, port, {"OCPPCommCtrlr.RetryBackOffWaitMinimum": 1,
                             "OCPPCommCtrlr.RetryBackOffRandomRange": 0})
    text = st.cfg.read_text()
    assert "seed = 3\n" in text
    st.cfg.write_text(text.replace("seed = 3\n", "seed = 3\n" + STEP, 1))
    return st


async def charging_at_50_6(obs: Any) -> None:
    await wait_power(obs, charging=True)
    await asyncio.to_thread(
        obs.wait_for, p.Measurement, WAIT, lambda m: abs(m.frequency_hz - 50.6) < 0.02
    )
    await wait_power(obs, charging=True)  # still charging at 50.6 Hz: no trip so far


def tripped(obs: Any) -> Any:
    return asyncio.to_thread(
        obs.wait_for, p.GridConstraintReport, WAIT, lambda g: g.state == "tripped"
    )


def queued(db: Path, action: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(
            conn.execute("SELECT COUNT(*) FROM ocpp_queue WHERE action=?", (action,)).fetchone()[0]
        )


def test_r04_set_der_control_hf_must_trip_makes_hal_trip_r05_alarm(short_tmp: Path) -> None:
    """R04 end to end, and the set re-sent after every hal (re)connect."""

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": "0123456789abcdef"}) as csms:
            st = station(short_tmp, csms.port)
            st.hal.start()
            await st.start_evse()
            obs = observer(st.hal)
            try:
                await csms.wait_until(lambda: bool(csms.of("StatusNotification")), WAIT)
                await charging_at_50_6(obs)
                res = await csms.call("SetDERControl", hf_trip("hf-50.5"))
                assert res == {"status": "Accepted"}
                await tripped(obs)
                await wait_power(obs, charging=False)
                await csms.wait_until(lambda: bool(csms.of("NotifyDERAlarm")), WAIT)
                alarm = csms.of("NotifyDERAlarm")[0]
                assert alarm["controlType"] == "HFMustTrip"
                assert alarm["gridEventFault"] == "OverFrequency"
                assert alarm["alarmEnded"] is False
                # hal restarts without its own copy of the directives: evse sends the set
                # in force again on the new connection, and hal trips again.
                obs.close()
                st.hal.stop(signal.SIGKILL)
                (short_tmp / "state" / "der-directives.cbor").unlink()
                st.hal.start()
                obs = observer(st.hal)
                await asyncio.to_thread(
                    obs.wait_for, p.Event, WAIT, lambda e: e.kind == "der_alarm"
                )
                await tripped(obs)
                assert csms.errors_sent == []
            finally:
                obs.close()
                await st.close()

    asyncio.run(scenario())


def test_tc_r_100_r05_alarm_offline_survives_kill9_and_arrives_after_reconnect(
    short_tmp: Path,
) -> None:
    """A scheduled HFMustTrip starts while the CSMS is away: hal trips, the der_alarm is
    queued in SQLite, evse is killed with SIGKILL and started again; when the CSMS is
    back it gets NotifyDERStartStop and NotifyDERAlarm (event time, not send time), and
    GetDERControl still finds the control."""

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": "0123456789abcdef"}) as csms:
            st = station(short_tmp, csms.port)
            db = short_tmp / "evse" / "evse.sqlite"
            st.hal.start()
            await st.start_evse()
            obs = observer(st.hal)
            try:
                await csms.wait_until(lambda: bool(csms.of("StatusNotification")), WAIT)
                await charging_at_50_6(obs)
                start = datetime.now().astimezone() + timedelta(seconds=6)
                req = hf_trip("sched", startTime=iso(start), duration=86400)
                assert (await csms.call("SetDERControl", req))["status"] == "Accepted"
                port = csms.port
                await csms.stop()
                stopped_at = datetime.now().astimezone()
                assert stopped_at < start, "the CSMS must be away when the control starts"
                await asyncio.to_thread(
                    obs.wait_for, p.Event, WAIT, lambda e: e.kind == "der_alarm"
                )
                await tripped(obs)  # reported at least every second
                async with asyncio.timeout(WAIT):  # polls a file: nothing to wait on
                    while queued(db, "NotifyDERAlarm") < 1:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                await st.end_evse(signal.SIGKILL)
                await st.start_evse()
                await asyncio.sleep(2.0)  # offline a little longer: the restart is not the cue
                back_at = datetime.now().astimezone()
                await csms.start(port=port)
                await csms.wait_until(lambda: bool(csms.of("NotifyDERAlarm")), WAIT)
                alarm = csms.of("NotifyDERAlarm")[0]
                assert alarm["controlType"] == "HFMustTrip" and alarm["alarmEnded"] is False
                stamped = datetime.fromisoformat(alarm["timestamp"].replace("Z", "+00:00"))
                assert start - timedelta(seconds=1) <= stamped < back_at
                notes = csms.of("NotifyDERStartStop")
                assert notes[:1] == [{"controlId": "sched", "started": True,
                                      "timestamp": iso(start)}]
                assert [n["started"] for n in notes] == [True]  # not again after the restart
                names = [r.action for r in csms.received]
                assert names.index("NotifyDERStartStop") < names.index("NotifyDERAlarm")
                res = await csms.call("GetDERControl", {"requestId": 5, "controlId": "sched"})
                assert res["status"] == "Accepted"  # TC_R_100: survived the SIGKILL
                await csms.wait_until(lambda: bool(csms.of("ReportDERControl")), WAIT)
                (report,) = csms.of("ReportDERControl")
                assert [c["id"] for c in report["curve"]] == ["sched"]
                assert csms.errors_sent == []
            finally:
                obs.close()
                await st.close()

    asyncio.run(scenario())
