"""Starts the simulated devices of every EVSE behind real transports, fed by one SimWorld,
and tells the factory where the drivers find them (`devices.mode = "sim-transports"`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hal.devices.config import (
    EvseDevicesConfig,
    MeterConfig,
    ModbusDeviceConfig,
    StageConfig,
)
from hal.devices.mcu_link.serial_mcu import McuLinkSettings
from hal.devices.meters.regmap import load_map
from hal.devices.modbus.link import ModbusTransport
from hal.sim.transports.faults import LineFaults
from hal.sim.transports.mcu_server import SimMcuServer
from hal.sim.transports.modbus_server import SimModbusServer
from hal.sim.transports.sim_inverter import SimInverterDevice
from hal.sim.transports.sim_meter import SimMeterDevice
from hal.sim.world import SimWorld


@dataclass
class SimEvseServers:
    mcu: SimMcuServer
    meter: SimMeterDevice
    meter_server: SimModbusServer
    inverter: SimInverterDevice
    stage_server: SimModbusServer
    meter_faults: LineFaults = field(default_factory=LineFaults)
    stage_faults: LineFaults = field(default_factory=LineFaults)


class SimTransports:
    def __init__(
        self,
        world: SimWorld,
        meter_transport: str = "rtu",
        stage_transport: str = "tcp",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.world = world
        self.evses: dict[int, SimEvseServers] = {}
        for evse_id in world.evses:
            mf, sf = LineFaults(), LineFaults()
            meter = SimMeterDevice(world, evse_id, mf, clock)
            inverter = SimInverterDevice(world, evse_id, sf, clock)
            self.evses[evse_id] = SimEvseServers(
                mcu=SimMcuServer(world, evse_id, clock),
                meter=meter,
                meter_server=SimModbusServer(meter.device, meter_transport, mf),
                inverter=inverter,
                stage_server=SimModbusServer(inverter.device, stage_transport, sf),
                meter_faults=mf,
                stage_faults=sf,
            )
        # The site's grid meter, on the same kind of transport as the EVSE meters.
        self.grid_meter: SimMeterDevice | None = None
        self.grid_meter_server: SimModbusServer | None = None
        if world.grid_meter is not None:
            self.grid_meter_faults = LineFaults()
            self.grid_meter = SimMeterDevice(world, None, self.grid_meter_faults, clock)
            self.grid_meter_server = SimModbusServer(
                self.grid_meter.device, meter_transport, self.grid_meter_faults
            )

    async def start(self) -> None:
        for ev in self.evses.values():
            await ev.mcu.start()
            await ev.meter_server.start()
            await ev.stage_server.start()
        if self.grid_meter_server is not None:
            await self.grid_meter_server.start()

    async def stop(self) -> None:
        if self.grid_meter_server is not None:
            await self.grid_meter_server.stop()
        for ev in self.evses.values():
            await ev.stage_server.stop()
            await ev.meter_server.stop()
            await ev.mcu.stop()

    def device_configs(self, timeout_s: float) -> tuple[EvseDevicesConfig, ...]:
        """Where the real drivers find the simulated devices."""
        out = []
        for evse_id, ev in self.evses.items():
            mcu_timeout = self.world.evses[evse_id].mcu.model.keepalive_timeout_s
            out.append(
                EvseDevicesConfig(
                    id=evse_id,
                    mcu=McuLinkSettings(
                        ev.mcu.path,
                        mcu_keepalive_timeout_s=mcu_timeout,
                        command_timeout_s=timeout_s,
                    ),
                    meter=MeterConfig(
                        ModbusDeviceConfig(_endpoint(ev.meter_server, timeout_s), 1),
                        load_map("sdm630"),
                    ),
                    stage=StageConfig(
                        "sunspec",
                        ModbusDeviceConfig(_endpoint(ev.stage_server, timeout_s), 1),
                        None,
                    ),
                )
            )
        return tuple(out)

    def grid_meter_config(self, timeout_s: float) -> MeterConfig | None:
        if self.grid_meter_server is None:
            return None
        endpoint = _endpoint(self.grid_meter_server, timeout_s)
        return MeterConfig(ModbusDeviceConfig(endpoint, 1), load_map("sdm630"))


def _endpoint(server: SimModbusServer, timeout_s: float) -> ModbusTransport:
    if server.transport == "tcp":
        return ModbusTransport("tcp", host=server.host, port=server.port, timeout_s=timeout_s)
    return ModbusTransport("rtu", device=server.path, baudrate=115200, timeout_s=timeout_s)
