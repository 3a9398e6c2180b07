"""The asyncio runners over the in-memory powerline (what `make sim` uses, unprivileged):
EvseSlac for the coordinator, EvSlac as the car, each with its simulated modem."""

from __future__ import annotations

import asyncio

from evse.slac.events import LinkUp, MatchDropped, Matched
from evse.slac.link import MemoryPowerline
from evse.slac.runner import EvseSlac, EvSlac, wait_for_event

EVSE_MAC = bytes.fromhex("020000000a01")
EV_MAC = bytes.fromhex("020000000e01")
LIMIT_S = 30.0  # generous: only "it never happened" fails, timing is for bench/


def test_iso15118_3_evse_runner_matches_the_ev_runner_over_the_memory_powerline() -> None:
    async def scenario() -> tuple[list[object], list[object]]:
        line = MemoryPowerline()
        evse = EvseSlac(line.link(EVSE_MAC, bytes.fromhex("00b0520a0001")))
        ev = EvSlac(line.link(EV_MAC, bytes.fromhex("00b0520e0001")))
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(evse.run()), tg.create_task(ev.run())]
            evse.pilot_b_5_percent()
            ev.start()
            async with asyncio.timeout(LIMIT_S):
                got_evse = [await wait_for_event(evse.events, (Matched,)),
                            await wait_for_event(evse.events, (LinkUp,))]
                got_ev = [await wait_for_event(ev.events, (Matched,)),
                          await wait_for_event(ev.events, (LinkUp,))]
            for task in tasks:
                task.cancel()
        return got_evse, got_ev

    got_evse, got_ev = asyncio.run(scenario())
    assert isinstance(got_evse[0], Matched) and got_evse[0].peer_mac == EV_MAC
    assert isinstance(got_evse[1], LinkUp)
    assert isinstance(got_ev[0], Matched) and got_ev[0].peer_mac == EVSE_MAC
    assert got_ev[0].nmk == got_evse[0].nmk
    assert isinstance(got_ev[1], LinkUp)


def test_pilot_left_during_matching_reports_the_drop() -> None:
    async def scenario() -> object:
        line = MemoryPowerline()
        evse = EvseSlac(line.link(EVSE_MAC, bytes.fromhex("00b0520a0001")))
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(evse.run())
            evse.pilot_b_5_percent()
            evse.pilot_left("A")
            async with asyncio.timeout(LIMIT_S):
                event = await wait_for_event(evse.events, (MatchDropped,))
            task.cancel()
        return event

    event = asyncio.run(scenario())
    assert isinstance(event, MatchDropped) and "pilot state A" in event.reason
