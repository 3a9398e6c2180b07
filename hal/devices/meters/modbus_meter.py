"""The `EnergyMeter` driver for any Modbus meter described by a register map."""

from __future__ import annotations

from hal.devices.base import DeviceError, MeterReading
from hal.devices.meters.regmap import MeterMap
from hal.devices.modbus.link import ModbusLink


class ModbusMeter:
    def __init__(self, name: str, link: ModbusLink, device_id: int, regmap: MeterMap) -> None:
        self.name = name
        self.link = link
        self.device_id = device_id
        self.map = regmap
        self._reads = regmap.reads()

    async def read(self) -> MeterReading:
        blocks: dict[int, list[int]] = {}
        for address, count in self._reads:
            blocks[address] = await self.link.read(
                self.name, self.device_id, self.map.function, address, count
            )
        reading = self.map.decode(blocks)
        if not all(0.0 <= v < 1000.0 for v in reading.voltage_v) or not (
            0.0 <= reading.frequency_hz < 100.0
        ):
            # NaN or absurd values: a wrong map, word order or a garbled answer.
            raise DeviceError(
                self.name,
                f"implausible reading {reading.voltage_v} V, "
                f"{reading.frequency_hz} Hz (check map {self.map.name})",
            )
        return reading

    async def close(self) -> None:
        return None  # the link may serve other devices on the bus; the factory closes it
