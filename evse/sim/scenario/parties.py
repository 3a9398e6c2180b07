"""The station's counterparts in a scenario: the embedded CSMS (in this process; every
frame into the trace) and the EMS, an MQTT client of the local API (docs/mqtt-api.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt

from evse.ocpp.clock import iso
from evse.sim.csms import ScriptedCsms
from evse.sim.scenario.station_config import PASSWORD, STATION_ID
from evse.sim.scenario.trace import Trace


def fill(payload: Any, speed: float) -> Any:
    """Payload templates: "${now}" and "${now+N}" (N simulated seconds) become RFC 3339
    times, so a scenario can start a schedule or a DER control when the step runs."""
    if isinstance(payload, dict):
        return {k: fill(v, speed) for k, v in payload.items()}
    if isinstance(payload, list):
        return [fill(v, speed) for v in payload]
    if isinstance(payload, str) and payload.startswith("${now") and payload.endswith("}"):
        offset = payload[5:-1].lstrip("+") or "0"
        return iso(datetime.now(UTC) + timedelta(seconds=float(offset) / speed))
    return payload


# Answers to the station's CALLs beyond ScriptedCsms's defaults (a scenario's
# [csms.responses] wins): what a CSMS that accepts everything says.
CSMS_ANSWERS: dict[str, dict[str, Any]] = {
    "NotifyEVChargingNeeds": {"status": "Accepted"},
    "NotifyDERStartStop": {},
    "NotifyDERAlarm": {},
    "NotifyAllowedEnergyTransfer": {"status": "Accepted"},
}


class EmbeddedCsms:
    def __init__(self, trace: Trace, responses: dict[str, dict[str, Any]]) -> None:
        self.trace = trace
        answers: dict[str, Any] = {**CSMS_ANSWERS, **responses}
        self.csms = ScriptedCsms(answers, passwords={STATION_ID: PASSWORD})
        self.port = 0
        self._seen = 0
        self.online = False

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def start(self) -> None:
        self.port = await self.csms.start(port=self.port)
        self.online = True

    async def go_offline(self) -> None:
        self.online = False
        await self.csms.stop()  # the station's connection goes with the server

    async def disconnect(self) -> None:
        await self.csms.drop(STATION_ID)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.csms.call(action, payload, STATION_ID)

    async def wait_connected(self, seconds: float) -> None:
        await self.csms.wait_until(lambda: STATION_ID in self.csms.stations, seconds)

    async def pump(self, stop: asyncio.Event) -> None:
        """Every frame, both ways, into the trace as it happens."""
        while not stop.is_set():
            self.csms.changed.clear()
            self.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.csms.changed.wait(), 0.5)

    def drain(self) -> None:
        """The frames not traced yet."""
        for station, direction, text in self.csms.frames[self._seen:]:
            try:
                frame: Any = json.loads(text)
            except ValueError:
                frame = text
            # "in": the station sent it (the CSMS received it).
            self.trace.add("ocpp", station=station,
                           direction="station->csms" if direction == "in" else "csms->station",
                           frame=frame, action=_action(frame))
        self._seen = len(self.csms.frames)

    async def close(self) -> None:
        await self.csms.stop()


def _action(frame: Any) -> str | None:
    if isinstance(frame, list) and len(frame) >= 3 and frame[0] == 2:
        return str(frame[2])
    return None


class Ems:
    """The home / site energy manager: commands in, status out, all traced."""

    def __init__(self, trace: Trace, port: int, prefix: str = "evse") -> None:
        self.trace = trace
        self.port = port
        self.prefix = prefix
        self.status: dict[int, dict[str, Any]] = {}  # evse id -> its latest status
        self._client: aiomqtt.Client | None = None
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier="evse-sim-ems") as c:
                    self._client = c
                    await c.subscribe(f"{self.prefix}/#")
                    self.ready.set()
                    async for message in c.messages:
                        self._on(str(message.topic), message.payload)
            except aiomqtt.MqttError:
                self.ready.clear()
                self._client = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

    def _on(self, topic: str, raw: Any) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
        try:
            payload: Any = json.loads(text)
        except ValueError:
            payload = text
        parts = topic.split("/")
        if len(parts) == 4 and parts[1] == "evse" and parts[3] == "status" and isinstance(
            payload, dict
        ):
            with contextlib.suppress(ValueError):
                self.status[int(parts[2])] = payload
        self.trace.add("mqtt", topic=topic, direction="station->ems", payload=payload)

    async def command(self, evse_id: int, command: str, payload: dict[str, Any]) -> None:
        async with asyncio.timeout(30.0):
            await self.ready.wait()
        assert self._client is not None
        topic = f"{self.prefix}/evse/{evse_id}/set/{command}"
        self.trace.add("mqtt", topic=topic, direction="ems->station", payload=payload)
        await self._client.publish(topic, json.dumps(payload))
