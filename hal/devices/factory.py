"""Builds the device set of every EVSE from the config: the only place that knows which
driver and transport a board uses. The daemon calls `open_devices` once at start and
`OpenDevices.close` once at stop."""

from __future__ import annotations

import time
from collections.abc import Callable

from hal.config import HalConfig
from hal.devices.base import DeviceError, DeviceSet, EnergyMeter, PowerStageRating
from hal.devices.config import EvseDevicesConfig, MeterConfig, driver_timeout
from hal.devices.mcu_link.serial_mcu import SerialMcu
from hal.devices.meters.modbus_meter import ModbusMeter
from hal.devices.modbus.link import ModbusLink, ModbusTransport
from hal.devices.sunspec.client import BASE_ADDRESSES, SunSpecClient
from hal.devices.sunspec.der import SunSpecPowerStage
from hal.sim.inprocess import (
    InProcessDcOutput,
    InProcessGridMeter,
    InProcessMcu,
    InProcessMeter,
    InProcessPowerStage,
)
from hal.sim.transports.runner import SimTransports
from hal.sim.world import SimWorld

Clock = Callable[[], float]


class OpenDevices:
    """Device sets per EVSE id, plus what must be stopped with them."""

    def __init__(
        self,
        sets: dict[int, DeviceSet],
        world: SimWorld | None,
        links: dict[str, ModbusLink] | None = None,
        sim_transports: SimTransports | None = None,
        grid_meter: EnergyMeter | None = None,
    ) -> None:
        self.sets = sets
        self.world = world  # the simulated world, when devices are simulated
        self.links = links or {}  # Modbus links by transport, shared by devices on one bus
        self.sim_transports = sim_transports  # the simulated devices' servers, if any
        self.grid_meter = grid_meter  # meter at the grid connection point, if configured
        self.startup_faults: list[DeviceError] = []  # devices that did not answer at start

    async def close(self) -> None:
        for ds in self.sets.values():
            for close in (ds.stage.close, ds.mcu.close, ds.meter.close):
                try:
                    await close()
                except DeviceError as exc:
                    # Stopping anyway; the MCU opens the contactors on keep-alive loss.
                    self.startup_faults.append(exc)
        if self.grid_meter is not None:
            try:
                await self.grid_meter.close()
            except DeviceError as exc:
                self.startup_faults.append(exc)
        for link in self.links.values():
            await link.close()
        if self.sim_transports is not None:
            await self.sim_transports.stop()


def _link(links: dict[str, ModbusLink], t: ModbusTransport, clock: Clock) -> ModbusLink:
    if t.key not in links:
        links[t.key] = ModbusLink(t, clock)
    return links[t.key]


def _meter(name: str, m: MeterConfig, links: dict[str, ModbusLink], clock: Clock) -> ModbusMeter:
    return ModbusMeter(name, _link(links, m.modbus.transport, clock), m.modbus.device_id, m.regmap)


async def _build(
    cfg: HalConfig, evses: tuple[EvseDevicesConfig, ...], opened: OpenDevices, clock: Clock
) -> None:
    units = {u.id: u for u in cfg.evses}
    for e in evses:
        u = units[e.id]
        s = e.stage
        client = SunSpecClient(
            f"stage-{e.id}",
            _link(opened.links, s.modbus.transport, clock),
            s.modbus.device_id,
            (s.base_address,) if s.base_address is not None else BASE_ADDRESSES,
        )
        rating = PowerStageRating(u.max_charge_w, u.max_discharge_w, u.max_var, u.phases)
        mcu = SerialMcu(f"mcu-{e.id}", e.mcu, clock)
        stage = SunSpecPowerStage(f"stage-{e.id}", client, rating)
        opened.sets[e.id] = DeviceSet(
            mcu=mcu, stage=stage, meter=_meter(f"meter-{e.id}", e.meter, opened.links, clock)
        )
        # The hardware handshake. A device that does not answer is a fault for the loop to
        # report and retry, not a reason to crash.
        for device in (mcu, stage):
            try:
                await device.open()
            except DeviceError as exc:
                opened.startup_faults.append(exc)


async def open_devices(cfg: HalConfig, clock: Clock = time.monotonic) -> OpenDevices:
    d = cfg.devices
    if d.mode == "sim":
        assert cfg.sim is not None  # parse_hal guarantees it for simulated modes
        world = SimWorld(cfg.sim, cfg.evses, clock())
        sets = {
            u.id: DeviceSet(
                mcu=InProcessMcu(world, u.id, clock),
                stage=InProcessPowerStage(world, u.id, clock),
                meter=InProcessMeter(world, u.id, clock),
                dc=InProcessDcOutput(world, u.id, clock)
                if world.evses[u.id].stage.dc is not None
                else None,
            )
            for u in cfg.evses
        }
        grid = InProcessGridMeter(world, clock) if world.grid_meter is not None else None
        return OpenDevices(sets, world, grid_meter=grid)
    if d.mode == "sim-transports":
        assert cfg.sim is not None and d.sim_transports is not None
        world = SimWorld(cfg.sim, cfg.evses, clock())
        servers = SimTransports(world, d.sim_transports.meter, d.sim_transports.stage, clock)
        await servers.start()
        opened = OpenDevices({}, world, {}, servers)
        timeout = driver_timeout(d.command_timeout_s)
        await _build(cfg, servers.device_configs(timeout), opened, clock)
        if (gm := servers.grid_meter_config(timeout)) is not None:
            opened.grid_meter = _meter("grid-meter", gm, opened.links, clock)
        return opened
    if d.mode == "hardware":
        opened = OpenDevices({}, None)
        await _build(cfg, d.evses, opened, clock)
        if d.grid_meter is not None:
            opened.grid_meter = _meter("grid-meter", d.grid_meter, opened.links, clock)
        return opened
    raise ValueError(f"devices.mode {cfg.devices.mode!r} has no driver")
