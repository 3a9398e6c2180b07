"""The OCPP side's view of the station (`StationPort`), answered from hal's reports and
carried out through the controller's link to hal."""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

from hal.devices.base import MeterReading
from hal.protocol import Measurement

log = logging.getLogger(__name__)


class StationActions(Protocol):
    """What the controller offers the port."""

    def latest_measurement(self, evse_id: int) -> Measurement | None: ...
    def set_allowed(self, evse_id: int, allowed: bool, reason: str) -> None: ...
    def set_operative(self, evse_id: int | None, operative: bool) -> None: ...
    def request_restart(self) -> None: ...
    async def lock_connector(self, evse_id: int, locked: bool) -> bool: ...
    def set_der_directives(self, directives: list[dict[str, Any]]) -> None: ...


def reading_from(m: Measurement) -> MeterReading:
    """A meter reading from hal's measurement: per-phase power split evenly, current from
    power and voltage (hal reports totals at the power stage and the meter's energy).
    Energy registers hal marks invalid (meter not read yet, or in fault) become NaN: not
    a number the meter showed, so no register value is sent for them (a billing register
    must never fall, as a 0.0 after a hal restart would)."""
    n = max(1, len(m.voltage_v))
    per_phase = m.active_w / n
    volts = tuple(m.voltage_v) or (0.0,)
    return MeterReading(
        voltage_v=volts,
        current_a=tuple(abs(per_phase) / v if v > 1.0 else 0.0 for v in volts),
        active_w=(per_phase,) * n,
        reactive_var=m.reactive_var,
        power_factor=_pf(m.active_w, m.reactive_var),
        frequency_hz=m.frequency_hz,
        import_wh=m.import_wh if m.energy_valid else math.nan,
        export_wh=m.export_wh if m.energy_valid else math.nan,
    )


def _pf(p: float, q: float) -> float:
    s = (p * p + q * q) ** 0.5
    return abs(p) / s if s > 1e-9 else 1.0


class HalStationPort:
    def __init__(self, actions: StationActions, nominal_frequency_hz: float = 50.0) -> None:
        self._a = actions
        self.nominal_frequency_hz = nominal_frequency_hz  # DER value rules (hal.der_rules)

    def meter(self, evse_id: int) -> MeterReading | None:
        m = self._a.latest_measurement(evse_id)
        return reading_from(m) if m is not None else None

    async def allow_energy_transfer(self, evse_id: int, allowed: bool) -> None:
        self._a.set_allowed(
            evse_id,
            allowed,
            "OCPP transaction authorized" if allowed else "OCPP transaction not authorized",
        )

    async def unlock_connector(self, evse_id: int, connector_id: int) -> str:
        if connector_id != 1:
            return "UnknownConnector"
        # F05.FR.02/04: Unlocked only when hal reports the MCU confirmed the actuator.
        if await self._a.lock_connector(evse_id, False):
            return "Unlocked"
        log.warning("UnlockConnector for EVSE %d: the lock did not confirm", evse_id)
        return "UnlockFailed"

    async def set_availability(self, evse_id: int | None, operative: bool) -> None:
        self._a.set_operative(evse_id, operative)

    def set_der_directives(self, directives: list[dict[str, Any]]) -> None:
        """R04: the DER controls in force, whole, for hal to execute."""
        self._a.set_der_directives(directives)

    async def reset(self, immediate: bool) -> None:
        log.warning("reset requested by the CSMS (%s)", "immediate" if immediate else "on idle")
        self._a.request_restart()
