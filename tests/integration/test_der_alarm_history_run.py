"""R05 (NotifyDERAlarm, TC_R_108): an alarm that starts AND ends while evse is down is
not lost. hal, `evse run` and a scripted CSMS as real processes on the simulated grid.
The CSMS sets a default HFMustTrip (trip above 50.5 Hz); evse is killed with SIGKILL;
hal is restarted alone on a grid that goes to 50.6 Hz at 1 s and back to 50.0 Hz at
3 s, so it trips and enters service again (1 s delay) while evse is away. hal keeps the
numbered edges (hal/alarm_history.py) and gives them in its welcome: evse queues both,
in order, with hal's times, once. The same again, with hal itself killed (SIGKILL)
after the edges were stored and started on a calm grid before evse comes back."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from hal.persist import load_alarm_history
from tests.integration.test_der_alarm_evse_down import PASSWORD, occupied_after_boot
from tests.integration.test_der_control_run import hf_trip
from tests.integration.test_evse_restart import WAIT, Station, observer

GRID = "[sim.grid]\nseed = 3\n"
NOMINAL = "nominal_frequency_hz = 50.0\n"
# Back in service 1 s after the grid is back (so the alarm ends while evse is away).
ENTER_SERVICE = (
    "[grid.enter_service]\nlow_voltage_pct = 90.0\nhigh_voltage_pct = 110.0\n"
    "low_freq_hz = 49.5\nhigh_freq_hz = 50.2\ndelay_s = 1.0\n"
)
EXCURSION = (
    '[[sim.grid.events]]\nkind = "step"\nat_s = 1.0\nfrequency_hz = 50.6\n'
    '[[sim.grid.events]]\nkind = "step"\nat_s = 3.0\nfrequency_hz = 50.0\n'
)


def edges_seen(obs: Any) -> list[dict[str, Any]]:
    """Wait (observer) for hal's der_alarm then der_alarm_ended; their data."""
    start = obs.wait_for(p.Event, WAIT, lambda e: e.kind == "der_alarm")
    end = obs.wait_for(p.Event, WAIT, lambda e: e.kind == "der_alarm_ended")
    return [start.data, end.data]


def expected(edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "controlType": "HFMustTrip",
            "alarmEnded": ended,
            "gridEventFault": "OverFrequency",
            "timestamp": e["timestamp"],  # hal's time of the edge, not of the send
            **({"extraInfo": e["extraInfo"]} if e.get("extraInfo") else {}),
        }
        for e, ended in zip(edges, (False, True), strict=True)
    ]


async def restart_hal(st: Station, grid_events: str, sig: int) -> None:
    st.hal.stop(sig)
    text = st.cfg.read_text()
    head, _, tail = text.partition(GRID)
    tail = tail[tail.index("\n[") + 1 :] if tail.startswith("[[sim.grid.events]]") else tail
    st.cfg.write_text(head + GRID + grid_events + tail)
    await asyncio.to_thread(st.hal.start)


def test_r05_tc_r_108_alarm_started_and_ended_while_evse_down_reaches_csms_once(
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
            text = st.cfg.read_text()
            assert GRID in text and NOMINAL in text
            st.cfg.write_text(text.replace(NOMINAL, NOMINAL + ENTER_SERVICE, 1))
            history = short_tmp / "state" / "der-alarm-history.cbor"
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

                # 1. evse down; hal alone: the alarm starts and ends.
                await restart_hal(st, EXCURSION, signal.SIGTERM)
                obs = observer(st.hal)
                first = await asyncio.to_thread(edges_seen, obs)
                obs.close()
                obs = None
                assert csms.of("NotifyDERAlarm") == []
                await st.start_evse()
                await csms.wait_until(lambda: len(csms.of("NotifyDERAlarm")) >= 2, WAIT)
                await csms.wait_until(lambda: occupied_after_boot(csms, 2), WAIT)
                assert csms.of("NotifyDERAlarm") == expected(first)

                # 2. Again, and hal is killed too (after it stored the edges) and comes
                # back on a calm grid: the history on disk still brings both, once.
                assert await st.end_evse(signal.SIGKILL) == -signal.SIGKILL
                await restart_hal(st, EXCURSION, signal.SIGTERM)
                obs = observer(st.hal)
                second = await asyncio.to_thread(edges_seen, obs)
                obs.close()
                obs = None
                async with asyncio.timeout(WAIT):
                    while len(load_alarm_history(history)[1]) < 4:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                await restart_hal(st, "", signal.SIGKILL)
                await st.start_evse()
                await csms.wait_until(lambda: len(csms.of("NotifyDERAlarm")) >= 4, WAIT)
                await csms.wait_until(lambda: occupied_after_boot(csms, 3), WAIT)
                # One more evse restart: nothing sent twice.
                assert await st.end_evse(signal.SIGKILL) == -signal.SIGKILL
                await st.start_evse()
                await csms.wait_until(lambda: occupied_after_boot(csms, 4), WAIT)
                assert csms.of("NotifyDERAlarm") == expected(first) + expected(second)
                assert csms.errors_sent == []
            finally:
                if obs is not None:
                    obs.close()
                await st.close()

    asyncio.run(scenario())
