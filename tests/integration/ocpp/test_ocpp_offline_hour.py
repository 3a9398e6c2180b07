"""The CSMS goes away for an hour of simulated time while a transaction runs (E04, E13).

Real sockets, simulated clock: every sleep in the station (sampling, clock-aligned data,
reconnect back-off) waits on a SimClock the test advances, so an hour takes a second.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ocpp_support import PASSWORD, StationSide, config, eventually

from evse.ocpp.clock import SimClock
from evse.ocpp.interfaces import EnergyTransfer, EvPlugged, EvUnplugged, PowerPathClosed
from evse.ocpp.station import OcppStation
from evse.sim.csms import ScriptedCsms
from tests.conftest import WAIT_S


def tx_frames(*servers: ScriptedCsms) -> list[tuple[str, dict[str, object]]]:
    out = []
    for csms in servers:
        for _, direction, text in csms.frames:
            frame = json.loads(text)
            if direction == "in" and frame[0] == 2 and frame[2] == "TransactionEvent":
                out.append((frame[1], frame[3]))
    return out


async def jump_until(clock: SimClock, done: object, limit: float) -> None:
    """Advance to each next deadline until `done()` holds (or `limit` seconds pass)."""
    start = clock.monotonic()
    while not done() and clock.monotonic() - start < limit:  # type: ignore[operator]
        deadline = clock.next_deadline()
        step = 1.0 if deadline is None else max(deadline - clock.monotonic(), 0.0)
        await clock.advance(min(step, 60.0))


def test_e04_csms_away_for_an_hour_everything_delivered_once_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()
        side = StationSide()
        first = ScriptedCsms(passwords={"CS001": PASSWORD})
        port = await first.start()
        cfg = config(
            port,
            variables={
                "SampledDataCtrlr.TxUpdatedInterval": 60,
                "AlignedDataCtrlr.Interval": 900,
                "OCPPCommCtrlr.HeartbeatInterval": 86400,
                "OCPPCommCtrlr.RetryBackOffWaitMinimum": 30,
                "OCPPCommCtrlr.RetryBackOffRandomRange": 10,
                "OCPPCommCtrlr.RetryBackOffRepeatTimes": 3,
            },
            message_timeout=30.0,
        )
        station = OcppStation(cfg, tmp_path / "evse.db", side, clock=clock)
        task = asyncio.create_task(station.run())
        second = ScriptedCsms(passwords={"CS001": PASSWORD})
        try:
            await asyncio.wait_for(station.connected.wait(), WAIT_S)
            station.notify(EvPlugged(1))
            await station.present_id_token(1, {"idToken": "TAG", "type": "ISO14443"})
            station.notify(PowerPathClosed(1))
            station.notify(EnergyTransfer(1, True))
            await first.wait_until(lambda: len(first.of("TransactionEvent")) == 1)
            await eventually(lambda: len(station.queue) == 0)  # acked before it goes

            await first.stop()  # the CSMS goes away
            await eventually(lambda: not station.connected.is_set(), WAIT_S)
            for _ in range(60):  # one hour, charging 11 kW
                side.charge(1, 11000 / 60)
                await clock.advance(60)
            assert len(station.queue) >= 60

            await second.start(port=port)  # and comes back on the same address
            await jump_until(clock, station.connected.is_set, 3600)
            assert station.connected.is_set()
            await eventually(lambda: len(station.queue) == 0, WAIT_S)
            station.notify(EvUnplugged(1))
            await second.wait_until(
                lambda: any(p["eventType"] == "Ended" for _, p in tx_frames(second)), 10
            )
            await eventually(lambda: len(station.queue) == 0, WAIT_S)
            assert station.store.tx_all() == []  # ended and delivered: forgotten
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await second.stop()

        frames = tx_frames(first, second)
        ids = [mid for mid, _ in frames]
        events = [p for _, p in frames]
        assert len(ids) == len(set(ids)), "a TransactionEvent was delivered twice"
        assert [e["seqNo"] for e in events] == list(range(len(events))), "seqNo not gapless"
        assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
        offline = [e for e in events if e.get("offline")]
        assert len(offline) >= 60 + 4  # 60 periodic samples + 4 clock-aligned, all flagged
        assert {e["triggerReason"] for e in offline} == {"MeterValuePeriodic", "MeterValueClock"}
        stamps = [e["timestamp"] for e in events]
        assert stamps == sorted(stamps)
        energy = [
            e["meterValue"][0]["sampledValue"][0]["value"]
            for e in offline
            if e["triggerReason"] == "MeterValuePeriodic"
        ]
        assert energy == sorted(energy) and energy[-1] >= 10999
        assert first.errors_sent == [] and second.errors_sent == []
        # B04: offline longer than OfflineThreshold: every connector reported again
        assert len(second.of("StatusNotification")) == 1

    asyncio.run(scenario())
