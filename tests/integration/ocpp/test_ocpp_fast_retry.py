"""A faster first retry when the CSMS comes back (issue 10, reconnect).

OCPP-J 5.4 back-off with the RetryBackOff* defaults reaches ~170 s; with
`[ocpp] reconnect_probe_s` the station looks (a TCP connect, no WebSocket) whether the
CSMS's host is back while it waits, and retries at once when it went from unreachable
to reachable. A host that never went away (the CSMS refuses us) keeps the full back-off.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocpp_support import PASSWORD, StationSide, config, eventually

from evse.ocpp.backoff import wait_backoff
from evse.ocpp.clock import RealClock
from evse.ocpp.station import OcppStation
from evse.sim.csms import ScriptedCsms

LONG = {
    "OCPPCommCtrlr.RetryBackOffWaitMinimum": 3600,  # an hour: only the probe can help
    "OCPPCommCtrlr.RetryBackOffRandomRange": 0,
}


def test_ocppj_5_4_reconnects_at_once_when_the_csms_returns(tmp_path: Path) -> None:
    async def scenario() -> None:
        csms = ScriptedCsms(passwords={"CS001": PASSWORD})
        port = await csms.start()
        cfg = config(port, variables=LONG, reconnect_probe_s=0.2)
        station = OcppStation(cfg, tmp_path / "evse.db", StationSide())
        task = asyncio.create_task(station.run())
        try:
            await asyncio.wait_for(station.connected.wait(), 20)
            await csms.stop()  # the CSMS (or the route to it) goes away ...
            await eventually(lambda: not station.connected.is_set(), 20)
            await asyncio.sleep(0.5)  # ... for a while: the station is in its back-off
            assert station.backoff.failures >= 1
            await csms.start(port=port)  # ... and comes back
            await asyncio.wait_for(station.connected.wait(), 20)
            assert csms.connections == 2  # no attempt in between: the hour-long wait was cut
            assert station.stats["fast_retries"] == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await csms.stop()

    asyncio.run(scenario())


def test_ocppj_5_4_a_host_that_stayed_reachable_keeps_the_full_back_off() -> None:
    probes: list[str] = []

    async def always_up(url: str, limit_s: float) -> bool:
        probes.append(url)
        return True

    async def down_then_up(url: str, limit_s: float) -> bool:
        probes.append(url)
        return len(probes) > 3

    async def scenario() -> tuple[bool, bool, bool]:
        clock = RealClock()
        kept = await wait_backoff(clock, 0.5, 0.05, "ws://127.0.0.1:1/o", always_up)
        probes.clear()
        cut = await wait_backoff(clock, 60.0, 0.05, "ws://127.0.0.1:1/o", down_then_up)
        off = await wait_backoff(clock, 0.05, 0.0, "ws://127.0.0.1:1/o", always_up)
        return kept, cut, off

    kept, cut, off = asyncio.run(scenario())
    assert (kept, cut, off) == (False, True, False)
