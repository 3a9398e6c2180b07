"""The hal daemon in the test's own event loop on in-process simulated devices
(`devices.mode = "sim"`), with a contract client that keeps its keep-alive: for tests that
inject device faults (hal/sim HangFaults) at run time and look at the simulated world."""

from __future__ import annotations

import asyncio
import contextlib
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from hal import protocol as p
from hal.config import HalConfig, parse_hal
from hal.config_reader import Table
from hal.daemon import HalDaemon
from hal.sdnotify import Notifier
from hal.sim.world import SimEvse

CONFIG = """
[hal]
socket = "{dir}/hal.sock"
state_dir = "{dir}/state"
period_ms = 20
keepalive_timeout_s = 30.0
report_period_ms = 100
{hal_extra}
[grid]
nominal_voltage_v = 230.0
nominal_frequency_hz = 50.0
[grid.trip]
hv_must_trip = [[0.1, 125.0]]
lv_must_trip = [[0.3, 45.0]]
hf_must_trip = [[0.1, 51.5]]
lf_must_trip = [[0.1, 47.5]]
[[evse]]
id = 1
kind = "dc"
max_charge_w = 11000.0
max_discharge_w = 11000.0
{more_evses}
[devices]
mode = "sim"
command_timeout_s = {timeout}
[sim.ev]
plug_in_at_s = 0.0
[sim.power_stage]
time_constant_s = 0.02
rate_limit_w_per_s = 1000000.0
[sim.mcu]
contactor_delay_s = 0.01
keepalive_timeout_s = 60.0
"""


def config(d: Path, timeout: float = 0.5, hal_extra: str = "", evses: int = 1) -> HalConfig:
    more = "".join(
        f'[[evse]]\nid = {i}\nkind = "dc"\nmax_charge_w = 11000.0\nmax_discharge_w = 11000.0\n'
        for i in range(2, evses + 1)
    )
    text = CONFIG.format(dir=d, timeout=timeout, hal_extra=hal_extra, more_evses=more)
    return parse_hal(Table(tomllib.loads(text), ""), d)


class Client:
    """evse as the contract sees it: hello, requests, a keep-alive every 0.2 s."""

    def __init__(self) -> None:
        self.messages: list[p.Message] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self, path: Path) -> None:
        self.reader, self.writer = await asyncio.open_unix_connection(str(path))
        self.send(p.Hello(p.PROTOCOL_VERSION, "test"))
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._alive())]

    def send(self, msg: p.Message) -> None:
        self.writer.write(p.encode_message(msg))

    async def _read(self) -> None:
        dec = p.FrameDecoder()
        while data := await self.reader.read(65536):
            self.messages.extend(p.decode_message(f) for f in dec.feed(data))

    async def _alive(self) -> None:
        seq = 0
        while True:
            seq += 1
            self.send(p.KeepAlive(seq))
            await asyncio.sleep(0.2)

    def events(self, kind: str) -> list[p.Event]:
        return [m for m in self.messages if isinstance(m, p.Event) and m.kind == kind]

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._tasks:  # connected
            self.writer.close()


async def until(pred: Callable[[], bool], within_s: float, what: str) -> None:
    end = time.monotonic() + within_s
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.01)


async def start(cfg: HalConfig) -> tuple[HalDaemon, asyncio.Event, asyncio.Task[int], Client]:
    daemon = HalDaemon(cfg, Notifier({}))
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    await until(lambda: cfg.socket_path.exists() or task.done(), 20.0, "hal listening")
    client = Client()
    await client.connect(cfg.socket_path)
    return daemon, stop, task, client


def world_evse(daemon: HalDaemon, evse_id: int = 1) -> SimEvse:
    assert daemon.devices is not None and daemon.devices.world is not None
    return daemon.devices.world.evses[evse_id]


async def charge(client: Client, ev: SimEvse, watts: float, evse_id: int = 1) -> None:
    client.send(p.PilotCommand(evse_id, 5.0))
    client.send(p.AllowPowerOn(evse_id, True, "test"))
    lo, hi = sorted((0.0, watts))
    client.send(p.PowerRequest(evse_id, "setpoint", watts, lo, hi))
    await until(
        lambda: ev.mcu.contactor_closed and abs(ev.stage.active_w - watts) < 60.0,
        20.0,
        f"EVSE {evse_id} at {watts} W",
    )
