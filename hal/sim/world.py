"""The simulated world: one grid, and per EVSE a power stage, a meter and an MCU.

`advance(now)` moves everything to `now` in a fixed order (grid -> MCU -> stage ->
meter), so whoever reads it (in-process devices, Modbus or serial servers) sees one
consistent state. Advancing twice to the same `now` is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hal.config import EvseUnitConfig
from hal.devices.base import GridSample, MeterReading, PowerStageRating
from hal.sim.config import SimConfig
from hal.sim.dc_output import SimDcOutput
from hal.sim.ev_battery import SimEvBattery
from hal.sim.grid import SimGrid
from hal.sim.mcu import McuModel, SimMcu
from hal.sim.meter import SimMeter
from hal.sim.power_stage import PowerStageModel, SimPowerStage


@dataclass
class HangFaults:
    """Fault switches for the in-process devices (tests and benches flip them): each
    delay makes that device's calls answer this late; a large value is a hung device."""

    mcu_delay_s: float = 0.0
    stage_delay_s: float = 0.0  # every stage call (state, setpoint)
    push_delay_s: float = 0.0  # only the stage's protection-settings push
    meter_delay_s: float = 0.0


@dataclass
class SimEvse:
    unit: EvseUnitConfig
    mcu: SimMcu
    stage: SimPowerStage
    meter: SimMeter
    faults: HangFaults = field(default_factory=HangFaults)


class SimWorld:
    def __init__(self, cfg: SimConfig, units: tuple[EvseUnitConfig, ...], now: float) -> None:
        self.cfg = cfg
        # `[sim] t0_monotonic`: a restarted hal continues the same scripted timeline.
        t0 = now if cfg.t0_monotonic is None else min(cfg.t0_monotonic, now)
        self.grid = SimGrid(cfg.grid, t0)
        self.evses: dict[int, SimEvse] = {}
        self.last_sample = self.grid.sample(now)
        self._t = now
        for u in units:
            rating = PowerStageRating(u.max_charge_w, u.max_discharge_w, u.max_var, u.phases)
            mcu = SimMcu(
                McuModel(
                    plug_in_at_s=cfg.plug_in_at_s,
                    unplug_at_s=cfg.unplug_at_s,
                    pp_ampacity_a=cfg.pp_ampacity_a,
                    contactor_delay_s=cfg.contactor_delay_s,
                    keepalive_timeout_s=cfg.mcu_keepalive_timeout_s,
                ),
                now,
                start=t0,
            )
            stage = SimPowerStage(
                PowerStageModel(rating, cfg.stage_time_constant_s, cfg.stage_rate_limit_w_per_s),
                now,
            )
            if cfg.dc is not None and u.kind == "dc":
                stage.dc = SimDcOutput(cfg.dc.output, SimEvBattery(cfg.dc.battery), now)
            self.evses[u.id] = SimEvse(u, mcu, stage, SimMeter(u.phases, now))
        # The meter at the grid connection point: the house plus every EVSE (+ imports).
        self.started_at = t0  # the sim clock's zero (steps' at_s count from here)
        self.house_override_w: float | None = None  # the control socket's house load
        self.grid_meter = SimMeter(cfg.grid.phases, now) if cfg.house is not None else None
        self.grid_meter_delay_s = 0.0  # fault switch: a slow or hung grid meter

    def site_w(self, now: float) -> float:
        house = 0.0
        if self.house_override_w is not None:
            house = self.house_override_w
        elif self.cfg.house is not None:
            house = self.cfg.house.load_w(now - self.started_at)
        return house + sum(ev.stage.active_w for ev in self.evses.values())

    def grid_meter_reading(self, now: float) -> MeterReading:
        """What the grid meter shows at `now` (only when the site has one)."""
        assert self.grid_meter is not None
        sample = self.advance(now)
        return self.grid_meter.reading(sample.voltage_v, sample.frequency_hz, self.site_w(now), 0.0)

    def advance(self, now: float) -> GridSample:
        if now <= self._t:
            return self.last_sample
        self._t = now
        sample = self.grid.sample(now)
        self.last_sample = sample
        for ev in self.evses.values():
            ev.mcu.advance(now, sample)
            ev.stage.enabled = ev.mcu.contactor_closed
            ev.stage.advance(now)
            ev.meter.advance(now, ev.stage.active_w)
        if self.grid_meter is not None:
            self.grid_meter.advance(now, self.site_w(now))
        return sample
