"""Issue 14: a flood of 10,000 commands from a client does not stall the station loop.
mosquitto on a loopback port, hal as a process, the controller in this loop, the flood
from a separate process. hal judges the station loop: its keep-alive (timeout 0.5 s,
evse sends every 0.1 s) must never be lost, and measurements keep reaching the
controller; afterwards the station still follows a fresh Q05 command."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from evse.controller import Controller
from hal import protocol as p
from tests.conftest import WAIT_S, Client
from tests.integration.api.mqtt_rig import Watcher, broker, free_port, station_config
from tests.integration.api.test_mqtt_api_brokers import hal_setpoint, with_station

FLOOD = Path(__file__).with_name("flood_client.py")
N = 10_000


def test_flood_of_10000_commands_does_not_stall_the_station(short_tmp: Path) -> None:
    port = free_port()
    cfg = station_config(short_tmp, port, 'local_mode = "ExternalSetpoint"\n')

    async def body(ctrl: Controller, obs: Client) -> None:
        async with broker("mosquitto", short_tmp, port), Watcher(port) as w:
            await w.until(lambda: w.status(1) is not None, "status")
            assert ctrl.api is not None
            seen: list[float] = []  # when the controller got each new measurement

            async def sample() -> None:
                last = None
                while True:
                    m = ctrl.evses[1].measurement
                    if m is not last:
                        last = m
                        seen.append(time.monotonic())
                    await asyncio.sleep(0.005)

            sampler = asyncio.create_task(sample())
            flood = await asyncio.create_subprocess_exec(
                sys.executable, str(FLOOD), str(port), str(N),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await asyncio.wait_for(flood.communicate(), WAIT_S * 4)
            assert flood.returncode == 0 and out.strip() == str(N).encode()
            api = ctrl.api
            await w.until(  # at least aiomqtt's incoming queue's worth was handled
                lambda: api.handler.accepted + api.handler.refused >= 1000,
                "the flood reached the station",
            )
            # The bounded incoming queue drops what does not fit while it is full: wait
            # until the flood has drained (the count stands still for a second).
            seen_handled: list[int] = []

            def drained() -> bool:
                seen_handled.append(api.handler.accepted + api.handler.refused)
                return len(seen_handled) > 50 and seen_handled[-1] == seen_handled[-51]

            await w.until(drained, "the flood drained", within=WAIT_S * 4)
            sampler.cancel()
            # The station kept going: measurements kept arriving at the controller ...
            assert len(seen) > 10
            # ... and it still follows a fresh command.
            r = await w.command(1, "setpoint", {"w": 7777, "expires_in_s": 60}, "after")
            assert r["ok"]
            await hal_setpoint(obs, 7777.0)
        lost = [x for x in obs.buffer if isinstance(x, p.Event) and x.kind == "keepalive_lost"]
        assert lost == [], "hal lost evse's keep-alive during the flood"

    with_station(cfg, body)
