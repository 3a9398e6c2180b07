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
    # The full station's hal: samples that ended after their deadline (the loop was
    # late), and the controller's keep-alive lost (hal ramped power to zero): what an
    # overloaded process does to the station beyond its OCPP messages.
    overruns: int = 0
    keepalive_lost: int = 0


class SimStation(Protocol):
    station_id: str
    kind: str

    def state(self) -> StationState: ...
    async def run(self, stop: Any) -> None: ...


def ocpp_state(station: object | None, overruns: int = 0, lost: int = 0) -> StationState:
    """The state of an `OcppStation` (or of none yet: the controller starts it later)."""
    from evse.ocpp.station import OcppStation

    if not isinstance(station, OcppStation):
        return StationState(overruns=overruns, keepalive_lost=lost)
    return StationState(
        online=station.connected.is_set(),
        booted=station.boot_accepted,
        charging=bool(station.tx.active()),
        overruns=overruns,
        keepalive_lost=lost,
    )


def summary(states: Iterable[StationState], failed: int, total: int, hal: bool) -> str:
    """One status line for the fleet (`hal`: the stations run hal, say how it fares)."""
    online = booted = charging = overruns = lost = 0
    for s in states:
        online += s.online
        booted += s.booted
        charging += s.charging
        overruns += s.overruns
        lost += s.keepalive_lost
    hal_part = f"hal: {overruns} overruns, {lost} keep-alive lost | " if hal else ""
    return (
        f"stations {total}: {booted} booted, {online} online, {charging} charging | "
        f"{hal_part}{failed} failed"
    )
