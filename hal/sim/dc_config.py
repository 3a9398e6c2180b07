"""The `[sim.dc]` table: a DC output and the car's battery for every simulated EVSE of
kind "dc" (absent: those EVSEs keep the plain power-stage model, no DC commands)."""

from __future__ import annotations

from dataclasses import dataclass

from hal.config_reader import ConfigError, Table
from hal.sim.dc_output import DcOutputModel
from hal.sim.ev_battery import EvBatteryModel


@dataclass(frozen=True, slots=True)
class SimDcConfig:
    output: DcOutputModel
    battery: EvBatteryModel


def parse_sim_dc(t: Table) -> SimDcConfig:
    output = DcOutputModel(
        max_v=t.get_float("max_v", 920.0, lo=50.0, hi=1500.0),
        max_a=t.get_float("max_a", 200.0, lo=1.0, hi=1000.0),
        isolation_check_s=t.get_float("isolation_check_s", 1.0, lo=0.0, hi=60.0),
        isolation_result=t.choice("isolation_result", ("valid", "warning", "fault"), "valid"),
        cable_check_v=t.get_float("cable_check_v", 500.0, lo=0.0, hi=1500.0),
        precharge_v_per_s=t.get_float("precharge_v_per_s", 400.0, lo=1.0, hi=100_000.0),
        current_time_constant_s=t.get_float("current_time_constant_s", 0.05, lo=0.001, hi=10.0),
        welded=t.get_bool("welded", False),
    )
    b = t.table("battery")
    battery = EvBatteryModel(
        capacity_kwh=b.get_float("capacity_kwh", 60.0, lo=0.1, hi=1000.0),
        soc_pct=b.get_float("soc_pct", 50.0, lo=0.0, hi=100.0),
        v_empty=b.get_float("v_empty", 330.0, lo=1.0, hi=1500.0),
        v_full=b.get_float("v_full", 400.0, lo=1.0, hi=1500.0),
        resistance_ohm=b.get_float("resistance_ohm", 0.05, lo=0.0, hi=10.0),
        max_charge_a=b.get_float("max_charge_a", 200.0, lo=0.0, hi=1000.0),
        max_discharge_a=b.get_float("max_discharge_a", 100.0, lo=0.0, hi=1000.0),
        min_soc_pct=b.get_float("min_soc_pct", 10.0, lo=0.0, hi=100.0),
    )
    if battery.v_full <= battery.v_empty:
        raise ConfigError(b.key("v_full"), battery.v_full, "must be above v_empty")
    if battery.v_full > output.max_v:
        raise ConfigError(b.key("v_full"), battery.v_full, "must be within sim.dc.max_v")
    b.reject_unknown()
    t.reject_unknown()
    return SimDcConfig(output, battery)
