"""One simulated station, light: our real OCPP client (`OcppStation`: RPC core, device
model, persisted queue in its own SQLite, transactions, meter values) over a simulated
power path and meter in place of hal and the controller. The EV is plugged in from the
start, the configured id token is presented once the CSMS is reached, and energy flows
at the configured request while the OCPP side allows it.

Kept for comparison with `FullStation` (bench/bench_stations.py measures both): it skips
hal's protection loop and the contract link, so it says what the OCPP client alone costs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from evse.config import StationConfig
from evse.ocpp.interfaces import (
    ConnectorStatus,
    EnergyTransfer,
    EvPlugged,
    PowerPathClosed,
    PowerPathOpened,
    StationEvent,
)
from evse.sim.station_state import StationFailed, StationState, ocpp_state
from hal.devices.base import MeterReading

log = logging.getLogger(__name__)

_ONLINE_WAIT_S = 600.0  # the token waits this long for the CSMS, then is presented offline


class SimPowerPath:
    """The `StationPort` the OCPP side drives: a power path that closes while allowed and
    a three-phase meter that integrates the power over monotonic time."""

    def __init__(self, power_w: float, volts: float, hz: float, events: Any) -> None:
        self.nominal_frequency_hz = hz
        self._power_w = power_w
        self._volts = volts
        self._notify = events  # StationEvent -> None (the OCPP station's notify)
        self._closed = False
        self._import_wh = 0.0
        self._export_wh = 0.0
        self._since = time.monotonic()
        self.der: list[dict[str, Any]] = []
        self.restart_requested = False

    def _advance(self) -> float:
        now = time.monotonic()
        p = self._power_w if self._closed else 0.0
        wh = p * (now - self._since) / 3600.0
        self._since = now
        if wh >= 0:
            self._import_wh += wh
        else:
            self._export_wh -= wh
        return p

    def meter(self, evse_id: int) -> MeterReading | None:
        p = self._advance()
        amps = abs(p) / 3.0 / self._volts
        return MeterReading(
            voltage_v=(self._volts,) * 3,
            current_a=(amps,) * 3,
            active_w=(p / 3.0,) * 3,
            reactive_var=0.0,
            power_factor=1.0,
            frequency_hz=self.nominal_frequency_hz,
            import_wh=self._import_wh,
            export_wh=self._export_wh,
        )

    async def allow_energy_transfer(self, evse_id: int, allowed: bool) -> None:
        if allowed == self._closed:
            return
        self._advance()
        self._closed = allowed
        events: list[StationEvent] = (
            [PowerPathClosed(evse_id), EnergyTransfer(evse_id, True)]
            if allowed
            else [EnergyTransfer(evse_id, False, "EVSE"), PowerPathOpened(evse_id)]
        )
        for event in events:
            self._notify(event)

    async def unlock_connector(self, evse_id: int, connector_id: int) -> str:
        return "Unlocked" if connector_id == 1 else "UnknownConnector"

    async def set_availability(self, evse_id: int | None, operative: bool) -> None:
        return None

    def set_der_directives(self, directives: list[dict[str, Any]]) -> None:
        self.der = directives  # R04: kept; nothing executes them in the light station

    async def reset(self, immediate: bool) -> None:
        log.warning("light station: reset asked by the CSMS; not restarting")
        self.restart_requested = True


class LightStation:
    kind = "light"

    def __init__(self, station_id: str, cfg: StationConfig) -> None:
        from evse.ocpp.station import OcppStation  # the schema package: only when used

        assert cfg.ocpp is not None
        self.station_id = station_id
        self.cfg = cfg
        cfg.controller.state_dir.mkdir(parents=True, exist_ok=True)
        grid = cfg.hal.grid
        power = cfg.controller.request_w or 7000.0
        self.port = SimPowerPath(
            power, grid.nominal_voltage_v, grid.nominal_frequency_hz, self._notify
        )
        self.ocpp = OcppStation(cfg.ocpp, cfg.controller.state_dir / "evse.sqlite", self.port)

    def _notify(self, event: StationEvent) -> None:
        self.ocpp.notify(event)

    def state(self) -> StationState:
        return ocpp_state(self.ocpp)

    async def _plug_in(self) -> None:
        """The EV is there from the start; the token is presented like a tap at plug-in
        (the same as the controller's `[controller] id_token`)."""
        self._notify(EvPlugged(1))
        self._notify(ConnectorStatus(1, 1, "Occupied"))
        token = self.cfg.controller.id_token
        if token is None:
            return
        try:
            await asyncio.wait_for(self.ocpp.connected.wait(), _ONLINE_WAIT_S)
        except TimeoutError:
            log.warning("%s: CSMS not reached; presenting the token offline", self.station_id)
        info = await self.ocpp.present_id_token(1, {"idToken": token, "type": "Local"})
        if info.get("status") != "Accepted":
            log.warning("%s: id token %s -> %s", self.station_id, token, info.get("status"))

    async def run(self, stop: asyncio.Event) -> None:
        ocpp = asyncio.create_task(self.ocpp.run(), name=f"{self.station_id}-ocpp")
        plug = asyncio.create_task(self._plug_in(), name=f"{self.station_id}-plug-in")
        stopped = asyncio.create_task(stop.wait())
        failure: str | None = None
        pending: set[asyncio.Task[Any]] = {ocpp, plug, stopped}
        try:
            while not stop.is_set() and failure is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done - {stopped}:
                    failure = _problem(task)
                    if failure is None and task is ocpp:
                        failure = "the OCPP client ended on its own"
        finally:
            for task in (ocpp, plug, stopped):
                task.cancel()
            await asyncio.wait({ocpp, plug, stopped})
        if failure is not None:
            raise StationFailed(self.station_id, failure)


def _problem(task: asyncio.Task[Any]) -> str | None:
    if task.cancelled():
        return f"{task.get_name()} was cancelled"
    exc = task.exception()  # retrieved here: reported as the station's failure
    return None if exc is None else f"{task.get_name()} failed: {exc!r}"
