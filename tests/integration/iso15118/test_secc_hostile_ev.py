"""A hostile car over veth: our EV runs full -20 sessions (through ChargeParameter
Discovery, ScheduleExchange, PowerDelivery and the ChargeLoop, which secc_client.py's
fuzz does not reach), each with one message bit-flipped, its V2GTP header spoiled, cut
or repeated. Each spoiled session ends once, cleanly (SessionEnded to the station, power
off), and the SECC serves the next car (issue 12, "Bad input"; ISO 15118-20 [V2G20-...]
FAILED responses / connection close on an undecodable message)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from secc_net import WAIT_S, VethPair, can_make_netns, veth_pair

from evse.iso15118.d20.types import (
    Action,
    DcState,
    SeccConfig,
    SeccLimits,
    SessionEnded,
    StationView,
)
from evse.iso15118.secc import Secc, SeccTransportConfig

pytestmark = pytest.mark.skipif(can_make_netns() is not None, reason=str(can_make_netns()))

EV = Path(__file__).with_name("hostile_ev.py")
SPOILED = 20
CONFIG = SeccConfig(evse_id=1, evseid="DE*ABC*E1", services=("AC", "AC_BPT"),
                    control_modes=("Scheduled", "Dynamic"),
                    limits=SeccLimits(11000.0, 11000.0, 16.0, 16.0))


@dataclass
class Station:
    """Authorized, discharge allowed, a 7 kW target: the energy phase is reachable."""

    actions: list[Action] = field(default_factory=list)

    def view(self) -> StationView:
        return StationView(
            epoch_s=1_800_000_000, authorization="accepted", may_discharge=True,
            target_w=7000.0, min_w=-11000.0, max_w=11000.0, present_w=7000.0,
            present_v=230.0, present_a=10.0, contactor_closed=True,
            dc=DcState(present_v=400.0, present_a=0.0, isolation="valid",
                       precharge_done=True, welding_v=0.0))

    def act(self, actions: tuple[Action, ...]) -> None:
        self.actions += actions


@pytest.fixture(scope="module")
def net() -> Iterator[VethPair]:
    with veth_pair("h") as pair:
        yield pair


def test_secc_spoiled_full_sessions_from_our_ev_each_end_once_and_next_is_served(
    net: VethPair,
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        station = Station()
        secc = Secc(CONFIG, SeccTransportConfig(net.secc_if, tls="none"), station)
        await secc.start()
        try:
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", net.netns, sys.executable, str(EV), net.ev_if,
                str(SPOILED), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), timeout=WAIT_S * 6)
            assert proc.returncode == 0, err.decode()
            lines = [json.loads(x) for x in out.decode().splitlines()]
            # every connection ended, and the station heard of each end exactly once
            ended = [a for a in station.actions if isinstance(a, SessionEnded)]
            assert secc.sessions == SPOILED + 1
            assert len(ended) == SPOILED + 1, ended
            assert not secc.active
            return lines
        finally:
            await secc.stop()

    lines = asyncio.run(asyncio.wait_for(scenario(), timeout=WAIT_S * 8))
    spoiled, clean = lines[:-1], lines[-1]
    assert len(spoiled) == SPOILED
    # the spoiled message fell in the energy phase at least once (beyond the common part)
    assert any(len(x["sent"]) > 8 and x["outcome"] != "terminated" for x in spoiled), spoiled
    assert clean["clean"] and clean["outcome"] == "terminated", clean
    assert "AC_ChargeLoopReq" in clean["sent"] and clean["sent"][-1] == "SessionStopReq"
