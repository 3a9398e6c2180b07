"""Fuzzing the station with a hostile CSMS (issue 10, hidden checks).

A CSMS built on plain websockets (hostile_csms.py) sends random and targeted hostile
frames while a transaction runs. It passes only when the station answers every CALL
with its own id, keeps its connection (or reconnects after the frames that must end a
connection: invalid UTF-8, oversize), and delivers every TransactionEvent, seqNo gapless.

`make test` runs a few hundred frames; `make fuzz` runs OCPP_FUZZ_FRAMES (default 20000)
with OCPP_FUZZ_SEED (default: a fixed seed; any seed reproduces its run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path
from typing import Any

import pytest
from hostile_csms import HostileCsms
from ocpp_support import StationSide, config

from evse.ocpp.interfaces import EvPlugged, EvUnplugged
from evse.ocpp.station import OcppStation

FRAMES = int(os.environ.get("OCPP_FUZZ_FRAMES", "300"))
SEED = int(os.environ.get("OCPP_FUZZ_SEED", "20261201"))
LIMIT = 30.0  # seconds for any one condition (slow shared CI machines)


async def until(
    csms: HostileCsms, predicate: Any, what: str, state: Any = lambda: ""
) -> None:
    try:
        async with asyncio.timeout(LIMIT):
            while not predicate():
                csms.changed.clear()
                # Frames wake us; station-side state (its queue) is polled as well.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(csms.changed.wait(), 0.05)
    except TimeoutError:
        raise AssertionError(f"not within {LIMIT} s: {what} {state()}") from None


def check_transactions(events: list[dict[str, Any]]) -> int:
    """Every transaction's seqNos gapless from 0; Started first, Ended last."""
    by_tx: dict[str, dict[int, dict[str, Any]]] = {}
    for e in events:
        seen = by_tx.setdefault(e["transactionInfo"]["transactionId"], {})
        if e["seqNo"] in seen:
            assert seen[e["seqNo"]] == e, "a seqNo reused by another message"
        seen[e["seqNo"]] = e
    for tx_id, seen in by_tx.items():
        assert sorted(seen) == list(range(len(seen))), f"{tx_id}: a seqNo is missing"
        assert seen[0]["eventType"] == "Started"
        assert seen[len(seen) - 1]["eventType"] == "Ended"
    return sum(len(s) for s in by_tx.values())


@pytest.mark.parametrize("version", ["ocpp2.1", "ocpp2.0.1"])
def test_hostile_csms_every_call_answered_connection_kept_transactions_kept(
    tmp_path: Path, version: str
) -> None:
    async def scenario() -> None:
        csms = HostileCsms(random.Random(SEED), version)
        port = await csms.start()
        side = StationSide()
        cfg = config(
            port,
            variables={
                "TxCtrlr.TxStartPoint": "EVConnected",
                "TxCtrlr.TxStopPoint": "EVConnected",
                "SampledDataCtrlr.TxUpdatedInterval": 0,
                "AlignedDataCtrlr.Interval": 0,
            },
        )
        station = OcppStation(cfg, tmp_path / "evse.db", side)
        task = asyncio.create_task(station.run())
        kinds: dict[str, int] = {}
        try:
            await asyncio.wait_for(station.connected.wait(), LIMIT)
            station.notify(EvPlugged(1))
            for i in range(FRAMES):
                await until(csms, lambda: csms.conn is not None, "connected")
                await asyncio.wait_for(station.connected.wait(), LIMIT)
                before = csms.connections
                kind = await csms.send_one()
                kinds[kind] = kinds.get(kind, 0) + 1
                if kind in ("bad_utf8", "oversize"):
                    await until(csms, lambda b=before: csms.connections > b, "reconnect")
                else:
                    await until(
                        csms, lambda: not csms.unanswered(),
                        f"answer to {str(csms.unanswered()[:1])[:300]}",
                    )
                if i % 1000 == 999:
                    print(f"ocpp fuzz ({version}): {i + 1} frames", flush=True)
                if i % 4 == 0:
                    side.charge(1, 5.0)
                    station.tx.trigger_updates(1)
                assert not task.done(), task
            station.notify(EvUnplugged(1))
            await until(
                csms,
                lambda: not station.tx.active() and len(station.queue) == 0 and station.online,
                "every queued message delivered",
                lambda: f"active {station.tx.active()} queued {len(station.queue)} "
                f"online {station.online} head {station.store.queue_head()}",
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await csms.stop()
        assert csms.unanswered() == []
        assert csms.malformed == []
        assert csms.connections == 1 + csms.closes_caused, (csms.connections, kinds)
        delivered = check_transactions(csms.transaction_events)
        assert delivered >= FRAMES // 4
        print(
            f"ocpp fuzz ({version}): {FRAMES} frames {kinds}, {len(csms.expected)} CALLs "
            f"answered, {delivered} TransactionEvents, {csms.connections} connections"
        )

    asyncio.run(scenario())
