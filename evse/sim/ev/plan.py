"""What a simulated car is and wants (`CarPlan`), and `[sim.car]`: the car `evse sim`
plugs in by itself through hal's control socket (evse/sim/ev/car.py).

    [sim.car]
    evse = 1                 # the cable it plugs into
    plug_in_at_s = 1.0       # after `evse sim` started
    unplug_at_s = 60.0       # optional: the driver leaves (SessionStop, then unplug)
    powerline = "../var/sim/plc-1"   # the [slac] "unix:DIR" segment (default: [slac]'s)
    service = "DC_BPT"       # AC, DC, AC_BPT, DC_BPT
    control_mode = "Dynamic" # or "Scheduled"
    iso15118 = true          # false: no PLC modem, the station falls back to basic charging
    soc_start = 40.0         # % at plug-in (also the simulated DC battery's, via hal)
    target_soc = 80
    capacity_wh = 60000.0
    departure_s = 7200       # from plug-in
    max_charge_w = 11000.0
    max_discharge_w = 11000.0
    pp_a = 32.0              # the cable's PP coding (IEC 61851-1)
    tls = false
    v2x_without_csms = true  # `evse sim` without [ocpp]: discharge allowed (no Q01 to ask)
    [[sim.car.power]]        # what the car wants from at_s on (+ charge, - discharge)
    at_s = 0.0
    power_w = 11000.0

Every error names the key, as the other sections do.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from evse.sim.ev.config import ControlMode, EvConfig, PowerStep, ServiceName
from hal.config import resolve_path
from hal.config_reader import ConfigError, Table

if TYPE_CHECKING:
    from evse.iso15118.config import IsoConfig
    from evse.slac.config import SlacConfig
    from hal.config import HalConfig


@dataclass(frozen=True, slots=True)
class CarPlan:
    service: ServiceName = "DC_BPT"
    control_mode: ControlMode = "Dynamic"
    iso15118: bool = True  # False: a car without ISO 15118 never answers SLAC
    soc_start: float = 40.0  # %
    target_soc: int = 80
    min_soc: int = 20
    capacity_wh: float = 60000.0
    departure_s: int = 7200  # from plug-in
    power: tuple[PowerStep, ...] = (PowerStep(0.0, 11000.0),)  # + charge, - discharge
    max_charge_w: float = 11000.0
    max_discharge_w: float = 11000.0
    tls: bool = False
    pp_a: float = 32.0
    loop_interval_s: float = 0.25
    sdp_tries: int = 20  # 0.25 s each; then the car takes the data link as lost: SLAC again
    timeout_scale: float = 2.0  # x the -20 EV timeouts: a simulation shares a busy machine
    evccid: str = "WMIV1234567890ABCDEX"

    @property
    def dc(self) -> bool:
        return self.service.startswith("DC")

    def ev_config(self) -> EvConfig:
        """The -20 EVCC's configuration (evse/sim/ev/config.py) for this car."""
        return EvConfig(
            service=self.service, control_mode=self.control_mode, tls=self.tls,
            evccid=self.evccid, capacity_wh=self.capacity_wh, soc_start=self.soc_start,
            target_soc=self.target_soc, min_soc=self.min_soc, departure_s=self.departure_s,
            max_charge_w=self.max_charge_w, max_discharge_w=self.max_discharge_w,
            script=self.power, loop_interval_s=self.loop_interval_s, sdp_tries=self.sdp_tries,
            timeout_scale=self.timeout_scale,
        )


@dataclass(frozen=True, slots=True)
class SimCarConfig:
    """`[sim.car]`: the car `evse sim` runs beside the station."""

    evse_id: int
    plan: CarPlan
    plug_in_at_s: float
    unplug_at_s: float | None
    powerline: Path | None  # None: [slac]'s unix:DIR
    v2x_without_csms: bool = True  # `evse sim` without [ocpp] lets the car discharge


def parse_sim_car(t: Table, base_dir: Path) -> SimCarConfig:
    service = t.choice("service", ("AC", "DC", "AC_BPT", "DC_BPT"), "DC_BPT")
    mode = t.choice("control_mode", ("Scheduled", "Dynamic"), "Dynamic")
    steps = []
    for s in t.tables("power"):
        steps.append(PowerStep(s.get_float("at_s", lo=0.0),
                               s.get_float("power_w", lo=-1e6, hi=1e6)))
        s.reject_unknown()
    if any(b.at_s < a.at_s for a, b in itertools.pairwise(steps)):
        raise ConfigError(t.key("power"), [s.at_s for s in steps], "at_s must not decrease")
    plan = CarPlan(
        service=cast(ServiceName, service),
        control_mode=cast(ControlMode, mode),
        iso15118=t.get_bool("iso15118", True),
        soc_start=t.get_float("soc_start", 40.0, lo=0.0, hi=100.0),
        target_soc=t.get_int("target_soc", 80, lo=0, hi=100),
        min_soc=t.get_int("min_soc", 20, lo=0, hi=100),
        capacity_wh=t.get_float("capacity_wh", 60000.0, lo=100.0, hi=1e6),
        departure_s=t.get_int("departure_s", 7200, lo=1, hi=7 * 86400),
        power=tuple(steps) or (PowerStep(0.0, 11000.0),),
        max_charge_w=t.get_float("max_charge_w", 11000.0, lo=0.0, hi=1e6),
        max_discharge_w=t.get_float("max_discharge_w", 11000.0, lo=0.0, hi=1e6),
        tls=t.get_bool("tls", False),
        pp_a=t.get_float("pp_a", 32.0),
    )
    if plan.pp_a not in (13.0, 20.0, 32.0, 63.0, 70.0):
        raise ConfigError(t.key("pp_a"), plan.pp_a, "one of 13, 20, 32, 63, 70 (IEC 61851-1)")
    plug = t.get_float("plug_in_at_s", 1.0, lo=0.0)
    unplug = t.opt_float("unplug_at_s", lo=0.0)
    if unplug is not None and unplug <= plug:
        raise ConfigError(t.key("unplug_at_s"), unplug, "must be after plug_in_at_s")
    line = t.opt_str("powerline")
    cfg = SimCarConfig(t.get_int("evse", 1, lo=1, hi=255), plan, plug, unplug,
                       resolve_path(base_dir, line) if line else None,
                       t.get_bool("v2x_without_csms", True))
    t.reject_unknown()
    return cfg


def check_sim_car(car: SimCarConfig, hal: HalConfig, iso: tuple[IsoConfig, ...],
                  slac: SlacConfig | None) -> None:
    """The station parts the car needs are configured: hal's control socket, and for an
    ISO 15118 car the unix powerline of [slac] and the EVSE's [[iso15118]]."""
    if hal.sim is None or hal.sim.control_socket is None:
        raise ConfigError("sim.control_socket", None, "[sim.car] plugs in through it")
    if car.evse_id not in {u.id for u in hal.evses}:
        raise ConfigError("sim.car.evse", car.evse_id, "no [[evse]] with this id")
    if slac is None or slac.evse_id != car.evse_id:
        raise ConfigError("sim.car.evse", car.evse_id, "needs [slac] for this EVSE")
    if not car.plan.iso15118:
        return
    if car.powerline is None and slac.powerline is None:
        raise ConfigError("slac.interface", slac.interface,
                          'the car needs a powerline: "unix:DIR" (or sim.car.powerline)')
    if not any(i.evse_id == car.evse_id for i in iso):
        raise ConfigError("sim.car.iso15118", True, "needs [[iso15118]] for this EVSE")
