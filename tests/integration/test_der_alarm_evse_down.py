"""R05 / TC_R_108: a DER alarm raised while evse is down is not lost. hal, `evse run`
and a scripted CSMS as real processes on the simulated grid. The CSMS sets a default
HFMustTrip (trip above 50.5 Hz); evse is killed with SIGKILL; while it is down the grid
goes to 50.6 Hz and hal trips on its own (it keeps protecting, with the directives it
stored). The simulated grid's profile runs on hal's clock, so the excursion is placed
after the kill by restarting hal alone, with a profile that steps to 50.6 Hz after 1 s.
When evse comes back, hal's welcome lists the alarm in force and the CSMS gets
NotifyDERAlarm stamped with hal's time of the event; another SIGKILL and restart of
evse does not send it again."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from tests.integration.test_der_control_run import STEP, hf_trip, tripped
from tests.integration.test_evse_restart import WAIT, Station, observer

PASSWORD = "0123456789abcdef"


def alarm_state(obs: Any) -> list[dict[str, Any]]:
    welcome = obs.wait_for(p.Welcome, WAIT)
    alarms: list[dict[str, Any]] = welcome.state[0].get("alarms", [])
    return alarms


def occupied_after_boot(csms: ScriptedCsms, boots: int) -> bool:
    names = [(r.action, r.payload) for r in csms.received]
    seen = 0
    for action, payload in names:
        if action == "BootNotification":
            seen += 1
        elif (
            seen >= boots
            and action == "StatusNotification"
            and payload.get("connectorStatus") == "Occupied"
        ):
            return True
    return False


def test_tc_r_108_r05_alarm_raised_while_evse_down_reaches_the_csms_with_event_time(
    short_tmp: Path,
) -> None:
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
            stored = short_tmp / "state" / "der-directives.cbor"
            st.hal.start()
            await st.start_evse()
            obs: Any = None
            try:
                await csms.wait_until(lambda: bool(csms.of("StatusNotification")), WAIT)
                res = await csms.call("SetDERControl", hf_trip("hf-50.5"))
                assert res == {"status": "Accepted"}
                async with asyncio.timeout(WAIT):  # hal stores the set, then applies it
                    while not stored.exists():  # noqa: ASYNC110 - polls a file
                        await asyncio.sleep(0.05)
                assert await st.end_evse(signal.SIGKILL) == -signal.SIGKILL
                # evse is down. hal alone, on a grid that goes to 50.6 Hz after 1 s:
                st.hal.stop(signal.SIGTERM)
                text = st.cfg.read_text()
                st.cfg.write_text(text.replace("seed = 3\n", "seed = 3\n" + STEP, 1))
                st.hal.start()
                obs = observer(st.hal)
                await tripped(obs)  # hal keeps protecting without evse
                obs.close()
                obs = observer(st.hal)  # its welcome: the alarm in force, and since when
                (in_force,) = await asyncio.to_thread(alarm_state, obs)
                assert in_force["controlType"] == "HFMustTrip"
                assert csms.of("NotifyDERAlarm") == []
                await st.start_evse()
                await csms.wait_until(lambda: bool(csms.of("NotifyDERAlarm")), WAIT)
                alarm = csms.of("NotifyDERAlarm")[0]
                assert alarm == {
                    "controlType": "HFMustTrip",
                    "alarmEnded": False,
                    "gridEventFault": "OverFrequency",
                    "timestamp": in_force["since"],  # the event's time, not the send's
                    "extraInfo": "stage 50.5 for 0.2 s",  # hal's edge (its alarm history)
                }
                stamped = datetime.fromisoformat(alarm["timestamp"].replace("Z", "+00:00"))
                assert stamped.tzinfo is not None
                # Killed and started again: the alarm is not reported twice.
                await csms.wait_until(lambda: occupied_after_boot(csms, 2), WAIT)
                assert await st.end_evse(signal.SIGKILL) == -signal.SIGKILL
                await st.start_evse()
                await csms.wait_until(lambda: occupied_after_boot(csms, 3), WAIT)
                starts = [a for a in csms.of("NotifyDERAlarm") if not a["alarmEnded"]]
                assert starts.count(alarm) == 1
                assert csms.errors_sent == []
            finally:
                if obs is not None:
                    obs.close()
                await st.close()

    asyncio.run(scenario())
