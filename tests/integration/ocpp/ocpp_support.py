"""Shared pieces for the OCPP integration tests: a station-side port and a config."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from evse.ocpp.config import OcppConfig
from hal.devices.base import MeterReading
from tests.conftest import WAIT_S

PASSWORD = "0123456789abcdef"


def reading(import_wh: float = 0.0, export_wh: float = 0.0, power_w: float = 0.0) -> MeterReading:
    per_phase = power_w / 3
    return MeterReading(
        voltage_v=(230.0, 231.0, 229.5),
        current_a=(per_phase / 230, per_phase / 231, per_phase / 229.5),
        active_w=(per_phase, per_phase, per_phase),
        reactive_var=0.0,
        power_factor=1.0,
        frequency_hz=50.0,
        import_wh=import_wh,
        export_wh=export_wh,
    )


class StationSide:
    """The station as the OCPP side sees it: meter readings in, requested actions logged."""

    def __init__(self, evses: int = 1) -> None:
        self.readings: dict[int, MeterReading] = {e: reading() for e in range(1, evses + 1)}
        self.allowed: dict[int, bool] = {}
        self.unlocks: list[tuple[int, int]] = []
        self.availability: list[tuple[int | None, bool]] = []
        self.resets: list[bool] = []
        self.unlock_result = "Unlocked"

    def meter(self, evse_id: int) -> MeterReading | None:
        return self.readings.get(evse_id)

    def charge(self, evse_id: int, wh: float, power_w: float = 11000.0) -> None:
        r = self.readings[evse_id]
        self.readings[evse_id] = reading(r.import_wh + wh, r.export_wh, power_w)

    async def allow_energy_transfer(self, evse_id: int, allowed: bool) -> None:
        self.allowed[evse_id] = allowed

    async def unlock_connector(self, evse_id: int, connector_id: int) -> str:
        self.unlocks.append((evse_id, connector_id))
        return self.unlock_result

    async def set_availability(self, evse_id: int | None, operative: bool) -> None:
        self.availability.append((evse_id, operative))

    async def reset(self, immediate: bool) -> None:
        self.resets.append(immediate)


def config(port: int, **changes: Any) -> OcppConfig:
    base = OcppConfig(
        csms_url=f"ws://127.0.0.1:{port}/ocpp",
        station_id="CS001",
        security_profile=1,
        basic_auth_password=PASSWORD,
        message_timeout=5.0,
        variables={
            "OCPPCommCtrlr.RetryBackOffWaitMinimum": 0,
            "OCPPCommCtrlr.RetryBackOffRandomRange": 0,
            "OCPPCommCtrlr.WebSocketPingInterval": 0,
        },
    )
    if "variables" in changes:
        changes["variables"] = {**base.variables, **changes["variables"]}
    if changes.get("security_profile", 1) >= 2:
        changes.setdefault("csms_url", f"wss://localhost:{port}/ocpp")
    return replace(base, **changes)


async def eventually(predicate: Callable[[], bool], seconds: float = WAIT_S) -> None:
    # Polls state owned by other tasks (no event to wait on from outside).
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class Running:
    def __init__(self, csms: Any, station: Any, side: StationSide) -> None:
        self.csms, self.station, self.side = csms, station, side


@contextlib.asynccontextmanager
async def running_station(
    tmp_path: Path,
    csms_kwargs: dict[str, Any] | None = None,
    wait_connected: bool = True,
    **changes: Any,
) -> AsyncIterator[Running]:
    """A scripted CSMS and an OcppStation connected to it; everything torn down after."""
    from evse.ocpp.station import OcppStation
    from evse.sim.csms import ScriptedCsms

    kwargs = {"passwords": {"CS001": PASSWORD}, **(csms_kwargs or {})}
    async with ScriptedCsms(**kwargs) as csms:
        side = StationSide()
        station = OcppStation(config(csms.port, **changes), tmp_path / "evse.db", side)
        task = asyncio.create_task(station.run())
        try:
            if wait_connected:
                await asyncio.wait_for(station.connected.wait(), WAIT_S)
            yield Running(csms, station, side)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
