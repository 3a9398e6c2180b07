"""Builds the device set of every EVSE from the config: the only place that knows which
driver and transport a board uses. The daemon calls `open_devices` once at start and
`close_devices` once at stop."""

from __future__ import annotations

import time
from collections.abc import Callable

from hal.config import HalConfig
from hal.devices.base import DeviceSet
from hal.sim.inprocess import InProcessMcu, InProcessMeter, InProcessPowerStage
from hal.sim.world import SimWorld


class OpenDevices:
    """Device sets per EVSE id, plus what must be stopped with them."""

    def __init__(self, sets: dict[int, DeviceSet], world: SimWorld | None) -> None:
        self.sets = sets
        self.world = world  # the simulated world, when devices are simulated

    async def close(self) -> None:
        for ds in self.sets.values():
            await ds.stage.close()
            await ds.mcu.close()
            await ds.meter.close()


async def open_devices(cfg: HalConfig, clock: Callable[[], float] = time.monotonic) -> OpenDevices:
    if cfg.devices.mode == "sim":
        assert cfg.sim is not None  # parse_hal guarantees it for mode "sim"
        world = SimWorld(cfg.sim, cfg.evses, clock())
        sets = {
            u.id: DeviceSet(
                mcu=InProcessMcu(world, u.id, clock),
                stage=InProcessPowerStage(world, u.id, clock),
                meter=InProcessMeter(world, u.id, clock),
            )
            for u in cfg.evses
        }
        return OpenDevices(sets, world)
    raise ValueError(f"devices.mode {cfg.devices.mode!r} has no driver")
