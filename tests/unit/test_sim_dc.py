"""The simulated DC output and EV battery (hal/sim/dc_output.py, ev_battery.py) on a fake
clock: isolation check (IEC 61851-23) taking its configured time, precharge ramp, current
limited by the car and by hal's setpoint, discharge, welding check, and energy in the
meter equal to the battery's SOC change."""

from __future__ import annotations

import pytest

from hal.devices.base import PowerStageRating
from hal.sim.dc_output import DcOutputModel, SimDcOutput
from hal.sim.ev_battery import EvBatteryModel, SimEvBattery
from hal.sim.meter import SimMeter
from hal.sim.power_stage import PowerStageModel, SimPowerStage

DT = 0.02


def out(soc: float = 50.0, kwh: float = 1.0, **kw: object) -> SimDcOutput:
    battery = SimEvBattery(EvBatteryModel(capacity_kwh=kwh, soc_pct=soc))
    return SimDcOutput(DcOutputModel(**kw), battery, 0.0)  # type: ignore[arg-type]


def run(o: SimDcOutput, t0: float, t1: float, cap_w: float = 50_000.0) -> float:
    t = t0
    while t < t1 - 1e-9:
        t = round(t + DT, 6)
        o.advance(t, cap_w)
    return t


def test_isolation_check_takes_its_configured_time() -> None:
    o = out(isolation_check_s=2.0)
    o.command("cable_check", 0.0, 0.0, 0.0)
    assert o.isolation == "ongoing"
    run(o, 0.0, 1.9)
    assert o.isolation == "ongoing"
    run(o, 1.9, 2.1)
    assert o.isolation == "valid"
    o.command("off", 0.0, 0.0, 2.1)
    assert o.isolation == "unknown"  # a new session never sees an old result


def test_isolation_fault_is_reported() -> None:
    o = out(isolation_check_s=0.1, isolation_result="fault")
    o.command("cable_check", 0.0, 0.0, 0.0)
    run(o, 0.0, 0.5)
    assert o.isolation == "fault"


def test_precharge_ramps_to_target_without_current() -> None:
    o = out(precharge_v_per_s=400.0)
    o.command("precharge", 360.0, 0.0, 0.0)
    run(o, 0.0, 0.5)
    assert o.present_v == pytest.approx(200.0, abs=10.0) and not o.precharge_done
    run(o, 0.5, 1.2)
    assert o.present_v == pytest.approx(360.0) and o.precharge_done and o.present_a == 0.0


def test_deliver_current_limited_by_car_and_by_hal_setpoint() -> None:
    o = out(soc=95.0, kwh=60.0)  # the BMS tapers above 80 %: 200 A x (100 - 95) / 20 = 50 A
    o.command("deliver", 400.0, 150.0, 0.0)
    run(o, 0.0, 1.0)
    assert o.present_a == pytest.approx(50.0, rel=0.02)
    o2 = out()
    o2.command("deliver", 400.0, 150.0, 0.0)
    run(o2, 0.0, 1.0, cap_w=3_650.0)  # hal's grid-constrained setpoint
    assert o2.power_w == pytest.approx(3_650.0, rel=0.02)
    run(o2, 1.0, 2.0, cap_w=0.0)  # a trip: setpoint zero
    assert abs(o2.present_a) < 0.5


def test_discharge_needs_negative_setpoint_and_stops_near_empty() -> None:
    o = out(soc=50.0)
    o.command("deliver", 360.0, -20.0, 0.0)
    run(o, 0.0, 1.0, cap_w=0.0)
    assert abs(o.present_a) < 1e-6  # hal allows no discharge: none
    run(o, 1.0, 2.0, cap_w=-50_000.0)
    assert o.present_a == pytest.approx(-20.0, rel=0.01) and o.power_w < 0
    low = out(soc=9.0)
    low.command("deliver", 360.0, -20.0, 0.0)
    run(low, 0.0, 1.0, cap_w=-50_000.0)
    assert abs(low.present_a) < 1e-6


def test_welding_check_voltage_decays_unless_welded() -> None:
    o = out()
    o.command("deliver", 400.0, 10.0, 0.0)
    run(o, 0.0, 0.5)
    o.command("welding_check", 0.0, 0.0, 0.5)
    run(o, 0.5, 2.0)
    assert o.welding_v is not None and o.welding_v < 5.0
    w = out(welded=True)
    w.command("deliver", 400.0, 10.0, 0.0)
    run(w, 0.0, 0.5)
    w.command("welding_check", 0.0, 0.0, 0.5)
    run(w, 0.5, 2.0)
    assert w.welding_v == pytest.approx(w.battery.open_circuit_v())


def test_meter_energy_and_battery_soc_agree() -> None:
    """The stage's power is the DC output's V x A; the meter integrates it, the battery
    stores it: charge then discharge, the meter's net energy equals the SOC change."""
    rating = PowerStageRating(50_000.0, 20_000.0, 0.0, 3)
    stage = SimPowerStage(PowerStageModel(rating, 0.05, 1e6), 0.0)
    stage.dc = out(soc=50.0)
    stage.enabled = True
    meter = SimMeter(3, 0.0)
    start_wh = stage.dc.battery.energy_wh
    t = 0.0
    for setpoint, target_a, until in ((20_000.0, 40.0, 5.0), (-20_000.0, -30.0, 9.0)):
        stage.command(setpoint, 0.0)
        stage.dc.command("deliver", 400.0, target_a, t)
        while t < until:
            t = round(t + DT, 6)
            stage.advance(t)
            meter.advance(t, stage.active_w)
    assert meter.import_wh > 15.0 and meter.export_wh > 10.0
    stored = stage.dc.battery.energy_wh - start_wh
    assert stored == pytest.approx(meter.import_wh - meter.export_wh, rel=1e-6, abs=1e-6)
    assert stage.dc.battery.soc_pct == pytest.approx(50.0 + stored / 10.0)  # 1 kWh pack
