"""MeterValueType from a hal `MeterReading` for the configured measurands (J01, J02, E)."""

from __future__ import annotations

import dataclasses
import logging
import math
from datetime import datetime
from typing import Any

from evse.ocpp.clock import iso
from hal.devices.base import MeterReading

log = logging.getLogger(__name__)

_PHASES = ("L1", "L2", "L3")


def _fmt(value: float) -> float:
    return round(value, 3)


def sampled_values(
    reading: MeterReading, measurands: list[str], context: str, phases_for_registers: bool = False
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(measurand: str, value: float, unit: str, phase: str | None = None) -> None:
        if not math.isfinite(value):
            return  # not a reading (e.g. an energy register hal marks invalid): omit it
        item: dict[str, Any] = {
            "value": _fmt(value),
            "measurand": measurand,
            "context": context,
            "unitOfMeasure": {"unit": unit},
        }
        if phase is not None:
            item["phase"] = phase
        out.append(item)

    for m in measurands:
        if m == "Energy.Active.Import.Register":
            add(m, reading.import_wh, "Wh")
        elif m == "Energy.Active.Export.Register":
            add(m, reading.export_wh, "Wh")
        elif m == "Power.Active.Import":
            add(m, max(reading.total_w, 0.0), "W")
        elif m == "Power.Active.Export":
            add(m, max(-reading.total_w, 0.0), "W")
        elif m == "Current.Import":
            for phase, amps in zip(_PHASES, reading.current_a, strict=False):
                add(m, abs(amps), "A", phase)
        elif m == "Voltage":
            for phase, volts in zip(_PHASES, reading.voltage_v, strict=False):
                add(m, volts, "V", f"{phase}-N")
        elif m == "Frequency":
            add(m, reading.frequency_hz, "Hz")
        elif m == "Power.Reactive.Import":
            add(m, max(reading.reactive_var, 0.0), "var")
        elif m == "Power.Factor":
            add(m, reading.power_factor, "")
    return [v for v in out if v["unitOfMeasure"]["unit"]] + [
        {k: v for k, v in item.items() if k != "unitOfMeasure"}
        for item in out
        if not item["unitOfMeasure"]["unit"]
    ]


def meter_value(
    reading: MeterReading, measurands: list[str], context: str, at: datetime
) -> dict[str, Any] | None:
    values = sampled_values(reading, measurands, context)
    if not values:
        return None  # sampledValue needs at least one entry
    return {"timestamp": iso(at), "sampledValue": values}


def next_aligned(wall_epoch: float, interval: float) -> float:
    """Seconds until the next clock-aligned instant (J01: aligned to midnight UTC)."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    return interval - (wall_epoch % interval) or interval


def never_falling(
    reading: MeterReading, last_wh: float | None, evse_id: int
) -> tuple[MeterReading, float | None]:
    """Within a transaction the import register must never fall (a billing register): a
    reading below the last one seen (a meter reset, swapped or restarted) gets its
    register left out until it is back above. Returns the reading to use and the new
    last register."""
    wh = reading.import_wh
    if not math.isfinite(wh):
        return reading, last_wh
    if last_wh is not None and wh < last_wh:
        log.warning("evse %d: import register fell %.3f -> %.3f Wh: left out", evse_id, last_wh, wh)
        return dataclasses.replace(reading, import_wh=math.nan), last_wh
    return reading, wh
