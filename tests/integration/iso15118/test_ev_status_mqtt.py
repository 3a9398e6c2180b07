"""The car's data in the MQTT status (issue 12, docs/mqtt-api.md): our EV charges through
`evse run` (hal on simulated hardware) over veth with the local API on Debian's mosquitto;
`{prefix}/evse/1/status` shows the -20 session as it runs: the SOC moving, the target
SOC, the departure time, the EV's limits, service, control mode and stage."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from secc_net import WAIT_S, can_make_netns, veth_pair
from test_ev_vs_secc import station_config
from test_ev_vs_secc_bpt import run_ev

from tests.conftest import HalProcess
from tests.integration.api.mqtt_rig import Mosquitto, free_port

pytestmark = pytest.mark.skipif(can_make_netns() is not None, reason=str(can_make_netns()))

TOPIC = "test/evse/evse/1/status"
EV_MAX_W = 9000.0


async def collect(port: int, seen: list[dict[str, Any]]) -> None:
    """Every `ev` object of EVSE 1's status, in order (an energy manager watching)."""
    while True:
        try:
            async with aiomqtt.Client("127.0.0.1", port, identifier="ems") as c:
                await c.subscribe(TOPIC)
                async for m in c.messages:
                    assert isinstance(m.payload, bytes)
                    seen.append(json.loads(m.payload)["ev"])
        except aiomqtt.MqttError:
            await asyncio.sleep(0.2)


def test_mqtt_status_shows_the_cars_soc_moving_and_its_session(short_tmp: Path) -> None:
    port = free_port()
    broker = Mosquitto(short_tmp, port).start()

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], float]:
        seen: list[dict[str, Any]] = []
        with veth_pair("mq") as net:
            cfg = station_config(short_tmp, "ac", net.secc_if, tls=False)
            cfg.write_text(cfg.read_text() + f'\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
                           'topic_prefix = "test/evse"\nstatus_period_s = 1.0\n')
            hal = HalProcess(cfg).start()
            evse = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "evse.cli", "run", "--config", str(cfg),
                stderr=(short_tmp / "evse.log").open("ab"))
            watcher = asyncio.create_task(collect(port, seen))
            try:
                # A small pack, so that 7 kW for a few seconds moves the SOC by whole %.
                started = time.time()
                result = await run_ev(net.netns, net.ev_if, short_tmp, {
                    "service": "AC", "control_mode": "Dynamic", "departure_s": 8,
                    "loop_interval_s": 0.1, "soc_start": 30.0, "capacity_wh": 300.0,
                    "target_soc": 90, "min_soc": 25, "max_charge_w": EV_MAX_W,
                    "sdp_tries": 200, "timeout_scale": 4.0})
                deadline = time.monotonic() + WAIT_S  # the end reaches the broker too
                while not any(e["stage"] == "ended" for e in seen):
                    assert time.monotonic() < deadline, seen[-3:]
                    await asyncio.sleep(0.1)
                return result, seen, started
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                evse.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(evse.wait(), WAIT_S)
                except TimeoutError:
                    evse.kill()
                    await evse.wait()
                hal.stop(signal.SIGKILL)

    try:
        result, seen, started = asyncio.run(scenario())
    finally:
        broker.stop()
    log = (short_tmp / "evse.log").read_text()
    assert result["outcome"] == "terminated", (result["reason"], log[-3000:])
    assert "Traceback" not in log, log[log.find("Traceback") - 300:]
    assert seen[0]["stage"] == "none" and seen[0]["limits_source"] == "unit"  # before the car
    looping = [e for e in seen if e["stage"] == "charge_loop"]
    assert looping, seen
    socs = [e["soc_pct"] for e in looping if e["soc_pct"] is not None]
    # The SOC moves with the energy the car takes, in the order the car reported it.
    assert len(set(socs)) >= 3 and socs == sorted(socs), socs
    assert socs[0] <= 31 and socs[-1] >= 33 and socs[-1] <= round(result["soc"]) + 1
    last = looping[-1]
    assert (last["service"], last["control_mode"], last["limits_source"]) == ("AC", "Dynamic",
                                                                            "ev")
    assert (last["max_charge_w"], last["max_discharge_w"]) == (EV_MAX_W, 0.0)
    assert (last["target_soc_pct"], last["min_soc_pct"]) == (90, 25)
    departure = time.mktime(time.strptime(last["departure"], "%Y-%m-%dT%H:%M:%SZ"))
    departure -= time.timezone  # the string is UTC
    assert started < departure < started + 8 + WAIT_S  # the EV's departure_s = 8 from start
    # (the stages before the loop pass within one status snapshot: not asserted)
    assert seen[-1]["stage"] == "ended" and seen[-1]["soc_pct"] == socs[-1]
