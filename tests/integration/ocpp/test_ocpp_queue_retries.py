"""Queue rules with the real CSMS: retries per MessageAttempts / MessageAttemptInterval,
strict order behind a failing message, QueueAllMessages persistence, continuity."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ocpp_support import PASSWORD, StationSide, config, eventually

from evse.ocpp.clock import SimClock
from evse.ocpp.endpoint import OcppCallError
from evse.ocpp.interfaces import EvPlugged, PowerPathClosed
from evse.ocpp.station import OcppStation
from evse.sim.csms import ScriptedCsms
from tests.conftest import WAIT_S


def test_e13_transaction_event_retried_with_growing_interval_then_dropped(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()
        seen: list[tuple[float, str]] = []

        def tx_answer(p: dict[str, Any]) -> dict[str, Any]:
            seen.append((clock.monotonic(), p["eventType"]))
            if p["eventType"] == "Started":
                raise OcppCallError("InternalError", "CSMS database down")
            return {}

        async with ScriptedCsms(
            passwords={"CS001": PASSWORD}, responses={"TransactionEvent": tx_answer}
        ) as csms:
            cfg = config(
                csms.port,
                variables={
                    "OCPPCommCtrlr.MessageAttempts@TransactionEvent": 3,
                    "OCPPCommCtrlr.MessageAttemptInterval@TransactionEvent": 10,
                    "SampledDataCtrlr.TxUpdatedInterval": 0,
                },
            )
            station = OcppStation(cfg, tmp_path / "evse.db", StationSide(), clock=clock)
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
                station.notify(EvPlugged(1))
                await station.present_id_token(1, {"idToken": "T", "type": "ISO14443"})
                station.notify(PowerPathClosed(1))
                await eventually(lambda: len(seen) == 1)
                station.tx.trigger_updates(1)  # queued behind the failing Started
                t0 = seen[0][0]

                def attempts() -> int:
                    rows = [
                        m
                        for m in station.store.queue_all()
                        if m.payload.get("eventType") == "Started"
                    ]
                    return rows[0].attempts if rows else -1

                def waiting(interval: float) -> bool:
                    """The sender sleeps on the clock for `interval` (the attempt count is
                    stored a moment before the sleep starts; the sleep may have begun up
                    to the last advance's remainder ago)."""
                    due = clock.monotonic() + interval
                    return any(due - 1.0 <= d <= due + 1e-6 for d in clock.deadlines())

                await eventually(lambda: attempts() == 1 and waiting(10.0))  # 1 x interval
                await clock.advance(9.5)
                assert len(seen) == 1  # not before 1 x interval
                await clock.advance(1.0)
                await eventually(lambda: len(seen) == 2)
                await eventually(lambda: attempts() == 2 and waiting(20.0))  # 2 x interval
                await clock.advance(19.0)
                assert len(seen) == 2
                await clock.advance(1.5)
                await eventually(lambda: len(seen) == 4)  # third attempt fails, dropped
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        kinds = [k for _, k in seen]
        assert kinds == ["Started", "Started", "Started", "Updated"]  # strict order
        assert seen[1][0] - t0 >= 10 and seen[2][0] - seen[1][0] >= 20
        assert station.queue.dropped == 1

    asyncio.run(scenario())


def test_queue_all_messages_persists_normal_messages_across_restart(tmp_path: Path) -> None:
    async def run_once(port: int, connect: bool) -> OcppStation:
        cfg = config(port, variables={"OCPPCommCtrlr.QueueAllMessages": True})
        station = OcppStation(cfg, tmp_path / "evse.db", StationSide())
        task = asyncio.create_task(station.run())
        try:
            if connect:
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
                await eventually(lambda: len(station.queue) == 0)
            else:
                await asyncio.sleep(0.1)
                station.remote.set_status(1, 1, "Occupied")  # offline: persisted
                queued = [m.action for m in station.store.queue_all()]
                assert queued.count("StatusNotification") == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return station

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            port = csms.port
            await csms.stop()
            await run_once(port, connect=False)
            await csms.start(port=port)
            await run_once(port, connect=True)
            statuses = [p["connectorStatus"] for p in csms.of("StatusNotification")]
            assert statuses[0] == "Occupied"  # queued before the reboot, sent first

    asyncio.run(scenario())


def test_e_continuity_resume_within_timeout_else_power_loss(tmp_path: Path) -> None:
    async def scenario(resume_timeout: int, wait: float) -> list[dict[str, Any]]:
        clock = SimClock()
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            cfg = config(csms.port, variables={"TxCtrlr.TxResumptionTimeout": resume_timeout})
            db = tmp_path / f"evse-{resume_timeout}.db"
            station = OcppStation(cfg, db, StationSide(), clock=clock)
            task = asyncio.create_task(station.run())
            await asyncio.wait_for(station.connected.wait(), WAIT_S)
            station.notify(EvPlugged(1))
            await station.present_id_token(1, {"idToken": "T", "type": "ISO14443"})
            station.notify(PowerPathClosed(1))
            await csms.wait_until(lambda: len(csms.of("TransactionEvent")) == 1)
            await eventually(lambda: len(station.queue) == 0)
            task.cancel()  # power goes
            await asyncio.gather(task, return_exceptions=True)
            await clock.advance(wait)
            station = OcppStation(cfg, db, StationSide(), clock=clock)
            task = asyncio.create_task(station.run())
            try:
                await csms.wait_until(lambda: len(csms.of("TransactionEvent")) == 2)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            return csms.of("TransactionEvent")

    resumed = asyncio.run(scenario(600, 30))
    assert resumed[1]["eventType"] == "Updated" and resumed[1]["triggerReason"] == "TxResumed"
    assert resumed[1]["seqNo"] == 1
    assert (
        resumed[1]["transactionInfo"]["transactionId"]
        == (resumed[0]["transactionInfo"]["transactionId"])
    )
    lost = asyncio.run(scenario(0, 30))
    assert lost[1]["eventType"] == "Ended"
    assert lost[1]["transactionInfo"]["stoppedReason"] == "PowerLoss"


def test_e03_remote_start_without_ev_times_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            cfg = config(
                csms.port,
                variables={"TxCtrlr.TxStartPoint": "Authorized", "TxCtrlr.EVConnectionTimeOut": 45},
            )
            side = StationSide()
            station = OcppStation(cfg, tmp_path / "evse.db", side, clock=clock)
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
                await csms.call(
                    "RequestStartTransaction",
                    {"idToken": {"idToken": "R", "type": "Central"}, "remoteStartId": 9},
                )
                await csms.wait_until(lambda: len(csms.of("TransactionEvent")) == 1)
                await eventually(lambda: len(station.queue) == 0)  # acked before time moves
                timeout_at = clock.monotonic() + 45
                await eventually(lambda: timeout_at in clock.deadlines())
                await clock.advance(44)
                assert len(csms.of("TransactionEvent")) == 1
                await clock.advance(2)
                await csms.wait_until(lambda: len(csms.of("TransactionEvent")) == 2)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            ended = csms.of("TransactionEvent")[1]
            assert ended["triggerReason"] == "EVConnectTimeout"
            assert ended["transactionInfo"]["stoppedReason"] == "Timeout"
            assert side.allowed[1] is False

    asyncio.run(scenario())


def test_j01_clock_aligned_meter_values_when_idle(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = SimClock()  # starts at 2026-01-01T00:00:00Z
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            cfg = config(csms.port, variables={"AlignedDataCtrlr.Interval": 900})
            side = StationSide()
            side.charge(1, 4321.0, power_w=0.0)
            station = OcppStation(cfg, tmp_path / "evse.db", side, clock=clock)
            task = asyncio.create_task(station.run())
            try:
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
                await eventually(lambda: len(station.queue) == 0)
                await eventually(lambda: clock.monotonic() + 900 in clock.deadlines())
                await clock.advance(899)
                assert csms.of("MeterValues") == []
                await clock.advance(2)
                await csms.wait_until(lambda: bool(csms.of("MeterValues")))
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            mv = csms.of("MeterValues")[0]
            assert mv["evseId"] == 1
            assert mv["meterValue"][0]["timestamp"] == "2026-01-01T00:15:00.000Z"
            first = mv["meterValue"][0]["sampledValue"][0]
            assert first["context"] == "Sample.Clock" and first["value"] == 4321.0

    asyncio.run(scenario())
