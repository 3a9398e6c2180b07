"""Shared helpers for the device integration tests: a SimWorld built from config tables,
as `devices.mode = "sim"` builds it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from hal.config import EvseUnitConfig
from hal.config_reader import Table
from hal.sim.config import parse_sim
from hal.sim.world import SimWorld
from tests.conftest import WAIT_S

T = TypeVar("T")


def make_world(
    sim: dict[str, Any] | None = None, phases: int = 3, max_discharge_w: float = 11000.0
) -> SimWorld:
    table = sim if sim is not None else {"ev": {"plug_in_at_s": 0.0}}
    cfg = parse_sim(Table(table, "sim"), 230.0, 50.0, phases)
    unit = EvseUnitConfig(1, "ac", 11000.0, max_discharge_w, 5000.0, phases)
    return SimWorld(cfg, (unit,), time.monotonic())


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def wait_for(pred: Callable[[], Awaitable[bool]], within_s: float = WAIT_S) -> None:
    """Poll an async predicate until it holds; fails the test at the timeout."""
    deadline = time.monotonic() + within_s
    while not await pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached within timeout")
        await asyncio.sleep(0.01)


async def serve(device: Any, kind: str, faults: Any, timeout_s: float = 5.0) -> tuple[Any, Any]:
    """Start a simulated Modbus device on `kind` ("tcp" / "rtu") and return the server and
    the transport a driver uses to reach it. The default timeout is one a loaded machine
    never reaches; a test of timeouts passes its own."""
    from hal.devices.modbus.link import ModbusTransport
    from hal.sim.transports.modbus_server import SimModbusServer

    server = SimModbusServer(device, kind, faults)
    await server.start()
    if kind == "tcp":
        return server, ModbusTransport(
            "tcp", host=server.host, port=server.port, timeout_s=timeout_s
        )
    return server, ModbusTransport("rtu", device=server.path, baudrate=115200, timeout_s=timeout_s)
