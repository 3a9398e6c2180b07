"""A simulated Modbus energy meter (an Eastron SDM630 by default) fed by the SimWorld.

The register encoding below is written from the SDM630 protocol document, independently
of hal/devices/meters/sdm630.toml, so a test of the driver against this server checks
the map rather than the map against itself. Other meters plug in their own `encode`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from hal.devices.base import MeterReading
from hal.sim.transports.faults import LineFaults
from hal.sim.world import SimWorld

Encoder = Callable[[MeterReading], dict[int, list[int]]]


def float32_be(v: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", v))
    return [hi, lo]


def encode_sdm630(r: MeterReading) -> dict[int, list[int]]:
    """SDM630: input registers, float32, high word first; P + import / - export."""
    out: dict[int, list[int]] = {}
    n = len(r.voltage_v)
    for i in range(3):
        v = r.voltage_v[i] if i < n else 0.0
        a = r.current_a[i] if i < n else 0.0
        p = r.active_w[i] if i < n else 0.0
        q = r.reactive_var_phase[i] if i < len(r.reactive_var_phase) else r.reactive_var / n
        pf = r.power_factor_phase[i] if i < len(r.power_factor_phase) else r.power_factor
        out[0x00 + 2 * i] = float32_be(v)
        out[0x06 + 2 * i] = float32_be(a)
        out[0x0C + 2 * i] = float32_be(p)
        out[0x12 + 2 * i] = float32_be(v * a)
        out[0x18 + 2 * i] = float32_be(q)
        out[0x1E + 2 * i] = float32_be(pf)
    out[0x34] = float32_be(r.total_w)
    out[0x38] = float32_be((r.total_w**2 + r.reactive_var**2) ** 0.5)
    out[0x3C] = float32_be(r.reactive_var)
    out[0x3E] = float32_be(r.power_factor)
    out[0x46] = float32_be(r.frequency_hz)
    out[0x48] = float32_be(r.import_wh / 1000.0)
    out[0x4A] = float32_be(r.export_wh / 1000.0)
    out[0x156] = float32_be((r.import_wh + r.export_wh) / 1000.0)
    return out


class SimMeterDevice:
    """The pymodbus `SimDevice` of a meter; every read refreshes it from the world."""

    def __init__(
        self,
        world: SimWorld,
        evse_id: int | None,  # None: the meter at the grid connection point
        faults: LineFaults,
        clock: Callable[[], float] = time.monotonic,
        device_id: int = 1,
        encode: Encoder = encode_sdm630,
        registers: int = 0x200,
    ) -> None:
        self._world = world
        self._ev = world.evses[evse_id] if evse_id is not None else None
        self._clock = clock
        self.faults = faults
        self.encode = encode
        self.override: MeterReading | None = None  # tests serve exact values with this
        self.reads = 0
        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        self.device = SimDevice(
            device_id,
            simdata=(
                bits,
                list(bits),
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=registers, values=0, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )

    def reading(self) -> MeterReading:
        if self.override is not None:
            return self.override
        if self._ev is None:
            return self._world.grid_meter_reading(self._clock())
        sample = self._world.advance(self._clock())
        st = self._ev.stage
        return self._ev.meter.reading(
            sample.voltage_v, sample.frequency_hz, st.active_w, st.reactive_var
        )

    async def _action(
        self,
        fc: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if (exc := await self.faults.modbus_prologue()) is not None:
            return exc
        if fc == 4 and values is None:
            self.reads += 1
            for addr, words in self.encode(self.reading()).items():
                off = addr - start
                if 0 <= off <= len(registers) - len(words):
                    registers[off : off + len(words)] = words
        return None
