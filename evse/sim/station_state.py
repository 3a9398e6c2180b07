"""What the fleet shows of each simulated station, and how a station says it failed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol


class StationFailed(Exception):
    """A simulated station stopped working: `reason` says which part and why."""

    def __init__(self, station_id: str, reason: str) -> None:
        super().__init__(f"{station_id}: {reason}")
        self.station_id = station_id
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StationState:
    online: bool = False  # a booted connection to the CSMS is up
    booted: bool = False  # a BootNotification was accepted (once per process)
    charging: bool = False  # a transaction is running


class SimStation(Protocol):
    station_id: str
    kind: str

    def state(self) -> StationState: ...
    async def run(self, stop: Any) -> None: ...


def ocpp_state(station: object | None) -> StationState:
    """The state of an `OcppStation` (or of none yet: the controller starts it later)."""
    from evse.ocpp.station import OcppStation

    if not isinstance(station, OcppStation):
        return StationState()
    return StationState(
        online=station.connected.is_set(),
        booted=station.boot_accepted,
        charging=bool(station.tx.active()),
    )


def summary(states: Iterable[StationState], failed: int, total: int) -> str:
    """One status line for the fleet."""
    online = booted = charging = 0
    for s in states:
        online += s.online
        booted += s.booted
        charging += s.charging
    return (
        f"stations {total}: {booted} booted, {online} online, {charging} charging, "
        f"{failed} failed"
    )
