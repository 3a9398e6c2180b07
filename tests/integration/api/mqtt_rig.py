"""Real brokers and a watching client for the MQTT API tests: mosquitto as a child
process on a free loopback port (restartable on the same port), amqtt in process, the
station (hal as a process, the controller in this loop) with `[mqtt]` pointing at them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from evse.api.broker import embedded_broker
from evse.config import StationConfig, load_station
from tests.conftest import WAIT_S, sim_config

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
)


def need_mosquitto() -> str:
    if MOSQUITTO is None:
        # .ci/run installs Debian's mosquitto; a developer machine without it skips these.
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    return MOSQUITTO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Mosquitto:
    """Debian's broker as a child process; stop() and start() again on the same port."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.port = port
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nmax_queued_messages 100000\n"
        )
        self.log = tmp / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        exe = need_mosquitto()
        with self.log.open("ab") as logf:
            self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=logf, stderr=logf)
        deadline = time.monotonic() + WAIT_S
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start:\n{self.log.read_text()}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(WAIT_S)


@contextlib.asynccontextmanager
async def broker(kind: str, tmp: Path, port: int) -> AsyncIterator[Mosquitto | None]:
    """`mosquitto` (child process) or `amqtt` (in this loop)."""
    if kind == "mosquitto":
        m = Mosquitto(tmp, port).start()
        try:
            yield m
        finally:
            m.stop()
    else:
        async with embedded_broker("127.0.0.1", port):
            yield None


def station_config(tmp: Path, port: int, mqtt: str = "", **sim: Any) -> StationConfig:
    path = sim_config(tmp, **sim)
    path.write_text(
        path.read_text()
        + f'\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\ntopic_prefix = "test/evse"\n'
        + 'client_id = "evse-test"\nreconnect_max_s = 1.0\nstatus_period_s = 2.0\n'
        + "status_min_interval_s = 0.2\n" + mqtt
    )
    return load_station(path)


class Watcher:
    """An MQTT client (an energy manager): keeps the newest payload per topic, sends
    commands and collects the replies. Reconnects when the broker goes away."""

    def __init__(self, port: int, protocol: str = "3.1.1") -> None:
        self.port = port
        self.v5 = protocol == "5"
        self.last: dict[str, bytes] = {}
        self.count: dict[str, int] = {}
        self.replies: list[dict[str, Any]] = []
        self.client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        proto = aiomqtt.ProtocolVersion.V5 if self.v5 else aiomqtt.ProtocolVersion.V311
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier="watcher",
                                          protocol=proto) as c:
                    self.client = c
                    await c.subscribe("test/evse/#")
                    async for m in c.messages:
                        assert isinstance(m.payload, bytes)
                        t = m.topic.value
                        self.last[t] = m.payload
                        self.count[t] = self.count.get(t, 0) + 1
                        if t.endswith("/reply"):
                            self.replies.append(json.loads(m.payload))
            except aiomqtt.MqttError:
                self.client = None
                await asyncio.sleep(0.2)

    def status(self, evse_id: int | None = None) -> dict[str, Any] | None:
        t = "test/evse/status" if evse_id is None else f"test/evse/evse/{evse_id}/status"
        raw = self.last.get(t)
        return None if raw is None else dict(json.loads(raw))

    async def until(self, pred: Callable[[], object], what: str, within: float = WAIT_S) -> None:
        deadline = time.monotonic() + within
        while not pred():
            if time.monotonic() > deadline:
                shown = {t: v[:300] for t, v in self.last.items()}
                raise AssertionError(f"not within {within} s: {what}; last {shown}")
            await asyncio.sleep(0.02)

    async def command(self, evse_id: int, name: str, doc: dict[str, Any], corr: str,
                      unreadable: bool = False) -> dict[str, Any]:
        """Publish a command and wait for its reply, by correlation id (`unreadable`: a
        command too large to be read is answered with id null)."""
        await self.until(lambda: self.client is not None, "watcher connected")
        assert self.client is not None
        n = len(self.replies)
        await self.client.publish(f"test/evse/evse/{evse_id}/set/{name}",
                                  json.dumps({"id": corr, **doc}), qos=1)

        def mine() -> list[dict[str, Any]]:
            ids = (corr, None) if unreadable else (corr,)
            return [r for r in self.replies[n:] if r.get("id") in ids]

        await self.until(mine, f"reply {corr}")
        return mine()[0]
