"""What the OCPP side needs from the station, and the events the station feeds it.

The lead wires these to hal (hal_client) and the station layer:
- `StationPort` is called BY the OCPP side: the latest meter reading per EVSE, and the
  actions the CSMS asks for (start / stop energy transfer, unlock, availability, reset).
- `StationEvent`s are given TO the OCPP side with `OcppStation.notify(event)`: EV plugged
  / unplugged, power path (contactors) closed / opened, energy flowing, connector status.
  Id tokens read locally (RFID, ISO 15118 contract) go through
  `OcppStation.present_id_token(evse_id, id_token)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hal.devices.base import MeterReading


class StationPort(Protocol):
    def meter(self, evse_id: int) -> MeterReading | None:
        """The latest reading of the EVSE's meter (None until the first one arrives)."""
        ...

    async def allow_energy_transfer(self, evse_id: int, allowed: bool) -> None:
        """Authorized and in a transaction: the station may (True) / must not (False)
        close the power path. The station answers later with PowerPath* events."""
        ...

    async def unlock_connector(self, evse_id: int, connector_id: int) -> str:
        """F05: returns an UnlockStatusEnumType: Unlocked, UnlockFailed,
        OngoingAuthorizedTransaction (never returned by the port), UnknownConnector."""
        ...

    async def set_availability(self, evse_id: int | None, operative: bool) -> None:
        """G03/G04: make an EVSE (None = the whole station) Operative or Inoperative."""
        ...

    async def reset(self, immediate: bool) -> None:
        """B11/B12: restart the station now (the OCPP side has already stopped and
        persisted its transactions). Typically exits the process for systemd."""
        ...


@dataclass(frozen=True, slots=True)
class EvPlugged:
    evse_id: int
    connector_id: int = 1


@dataclass(frozen=True, slots=True)
class EvUnplugged:
    evse_id: int
    connector_id: int = 1


@dataclass(frozen=True, slots=True)
class PowerPathClosed:
    evse_id: int


@dataclass(frozen=True, slots=True)
class PowerPathOpened:
    evse_id: int


@dataclass(frozen=True, slots=True)
class EnergyTransfer:
    """Energy started (True) or stopped (False) flowing; `suspended_by` is "EV" or "EVSE"
    when it stopped while the power path stays closed."""

    evse_id: int
    flowing: bool
    suspended_by: str = "EV"


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """A ConnectorStatusEnumType change: Available, Occupied, Reserved, Unavailable,
    Faulted. Sent as StatusNotification (G01)."""

    evse_id: int
    connector_id: int
    status: str


@dataclass(frozen=True, slots=True)
class DerAlarm:
    """R05: a DER function started (or stopped, `ended`) acting on a grid event; hal's
    `der_alarm` / `der_alarm_ended`, stamped with hal's time of the event (when it
    reached evse if hal gave none)."""

    evse_id: int
    control_type: str
    grid_event_fault: str
    ended: bool
    extra_info: str
    timestamp: datetime
    seq: int | None = None  # hal's number of the edge (grows, never repeats); None: old hal


@dataclass(frozen=True, slots=True)
class DerAlarmsInForce:
    """R05: the DER alarms hal has in force on an EVSE (its welcome), whole: the OCPP
    side first queues the edges of `history` it has not queued yet (hal's numbered
    history: an alarm that started and ended while evse was down), then reports those
    in force it has not reported yet, and ends those no longer in force."""

    evse_id: int
    alarms: tuple[DerAlarm, ...]
    history: tuple[DerAlarm, ...] = ()


StationEvent = (
    EvPlugged
    | EvUnplugged
    | PowerPathClosed
    | PowerPathOpened
    | EnergyTransfer
    | ConnectorStatus
    | DerAlarm
    | DerAlarmsInForce
)
DER_ALARM_EVENTS = (DerAlarm, DerAlarmsInForce)  # R05: queued at once by the DER part
