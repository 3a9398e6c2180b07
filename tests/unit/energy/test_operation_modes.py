"""The eight operation modes through the energy manager (OCPP 2.1 Q03-Q10): what hal is
asked and what the car is told, for one EVSE."""

from __future__ import annotations

import pytest

from evse.energy.manager import EnergyInputs, EvLimits, decide, period_watts
from evse.energy.operation_modes import EmsInput
from evse.energy.types import SchedulePeriod
from hal.protocol import GridConstraintReport

EV = EvLimits(max_charge_w=11000.0, max_discharge_w=10000.0)
CURVE = [
    {"frequency": 49.8, "power": 4000.0},
    {"frequency": 50.0, "power": 0.0},
    {"frequency": 50.2, "power": -4000.0},
]


def run(period: SchedulePeriod | None, **kw: object) -> tuple[str, float, float, float, float]:
    args: dict[str, object] = {"ev": EV, "now": 0.0, "may_discharge": True, **kw}
    d = decide(EnergyInputs(1, period, **args))  # type: ignore[arg-type]
    r = d.request
    return r.operation_mode, r.setpoint_w, r.min_w, r.max_w, d.ev_target_w


def test_q02_charging_only_charges_up_to_the_limit_and_never_discharges() -> None:
    p: SchedulePeriod = {"chargingRateUnit": "W", "operationMode": "ChargingOnly", "limit": 7000}
    mode, _sp, lo, hi, target = run(p)
    assert (mode, lo, hi, target) == ("ChargingOnly", 0.0, 7000.0, 7000.0)
    assert decide(EnergyInputs(1, p, EV, 0.0, may_discharge=True)).request.mode == "limits"


def test_charging_only_is_the_default_mode_of_a_period() -> None:
    assert run({"limit": 5000.0})[0] == "ChargingOnly"


def test_q03_central_setpoint_follows_the_csms_setpoint() -> None:
    p: SchedulePeriod = {"operationMode": "CentralSetpoint", "setpoint": -6000.0}
    mode, sp, _lo, _hi, target = run(p)
    assert (mode, sp, target) == ("CentralSetpoint", -6000.0, -6000.0)


def test_v2x05_setpoint_is_held_within_discharge_limit_and_limit() -> None:
    p: SchedulePeriod = {
        "operationMode": "CentralSetpoint",
        "setpoint": -9000.0,
        "dischargeLimit": -5000.0,
        "limit": 8000.0,
    }
    _, sp, lo, hi, _ = run(p)
    assert (sp, lo, hi) == (-5000.0, -5000.0, 8000.0)


def test_q01_no_discharge_unless_the_energy_transfer_allows_it() -> None:
    p: SchedulePeriod = {"operationMode": "CentralSetpoint", "setpoint": -6000.0}
    _, sp, lo, _, target = run(p, may_discharge=False)
    assert (sp, lo, target) == (0.0, 0.0, 0.0)


def test_ev_limits_bound_the_request() -> None:
    p: SchedulePeriod = {"operationMode": "CentralSetpoint", "setpoint": 20000.0}
    assert run(p, ev=EvLimits(9000.0, 3000.0))[1] == 9000.0


def test_q05_external_setpoint_is_the_ems_setpoint_within_the_csms_limits() -> None:
    p: SchedulePeriod = {"operationMode": "ExternalSetpoint", "limit": 6000.0}
    _, sp, *_ = run(p, ems=EmsInput(setpoint_w=9000.0))
    assert sp == 6000.0
    _, sp, *_ = run(p, ems=EmsInput(setpoint_w=-2000.0))
    assert sp == -2000.0
    assert run(p)[1] == 0.0  # no EMS setpoint yet, none in the period: hold at zero


def test_q06_external_limits_intersect_ems_and_csms_ranges() -> None:
    p: SchedulePeriod = {
        "operationMode": "ExternalLimits",
        "limit": 8000.0,
        "dischargeLimit": -4000,
    }
    mode, sp, lo, hi, _ = run(p, ems=EmsInput(min_w=-9000.0, max_w=5000.0))
    assert (mode, lo, hi, sp) == ("ExternalLimits", -4000.0, 5000.0, 5000.0)


def test_q07_central_frequency_follows_the_csms_setpoint() -> None:
    p: SchedulePeriod = {"operationMode": "CentralFrequency", "setpoint": 2500.0}
    assert run(p)[:2] == ("CentralFrequency", 2500.0)


def test_q08_local_frequency_hands_hal_the_baseline_and_the_curve() -> None:
    p: SchedulePeriod = {
        "chargingRateUnit": "W",
        "operationMode": "LocalFrequency",
        "v2xBaseline": 1000.0,
        "v2xFreqWattCurve": CURVE,
        "dischargeLimit": -8000.0,
        "limit": 8000.0,
    }
    d = decide(EnergyInputs(1, p, EV, 0.0, may_discharge=True, frequency_hz=50.1))
    r = d.request
    assert r.operation_mode == "LocalFrequency" and r.baseline_w == 1000.0
    assert r.freq_watt == CURVE
    assert (r.min_w, r.max_w) == (-8000.0, 8000.0)
    # the car's target: baseline + curve at the latest frequency (50.1 Hz: -2 kW)
    assert d.ev_target_w == pytest.approx(-1000.0)


def test_q08_fr_02_local_frequency_without_curve_moves_no_power() -> None:
    p: SchedulePeriod = {"operationMode": "LocalFrequency", "v2xBaseline": 3000.0}
    d = decide(EnergyInputs(1, p, EV, 0.0, may_discharge=True))
    assert d.request.operation_mode == "Idle" and d.request.max_w == 0.0
    assert "at least two" in d.note


def test_q08_afrr_signal_shifts_the_baseline_by_the_signal_watt_curve() -> None:
    p: SchedulePeriod = {
        "operationMode": "CentralFrequency",
        "v2xBaseline": 2000.0,
        "setpoint": 2000.0,
        "v2xSignalWattCurve": [{"signal": -100, "power": -6000.0}, {"signal": 100, "power": 6000}],
    }
    assert run(p, afrr_signal=50)[1] == pytest.approx(5000.0)  # 2000 + 3000
    assert run(p)[1] == 2000.0  # no signal yet: the setpoint


def test_q09_local_load_balancing_zeroes_the_grid_exchange_within_limits() -> None:
    p: SchedulePeriod = {
        "operationMode": "LocalLoadBalancing",
        "limit": 11000,
        "dischargeLimit": -3000,
    }
    # EVSE at 2 kW, the site imports 5 kW in total: give back 3 kW -> -3 kW
    assert run(p, site_import_w=5000.0, own_w=2000.0)[1] == -3000.0
    # 4 kW of surplus exported while charging 1 kW: charge 5 kW
    assert run(p, site_import_w=-4000.0, own_w=1000.0)[1] == 5000.0
    assert run(p)[1] == 0.0  # no meter reading: hold at zero


def test_q10_idle_and_evse_sleep_move_no_power() -> None:
    assert run({"operationMode": "Idle"})[1:] == (0.0, 0.0, 0.0, 0.0)
    p: SchedulePeriod = {"operationMode": "CentralSetpoint", "setpoint": 5000, "evseSleep": True}
    assert run(p)[0] == "Idle"


def test_unknown_mode_moves_no_power() -> None:
    d = decide(EnergyInputs(1, {"operationMode": "Turbo", "limit": 5000}, EV, 0.0))
    assert d.request.max_w == 0.0 and "unknown" in d.note


def test_grid_constraint_narrows_only_the_cars_target() -> None:
    p: SchedulePeriod = {"operationMode": "CentralSetpoint", "setpoint": 9000.0}
    c = GridConstraintReport(1, "normal", -11000.0, 4000.0, 0.0)
    _, sp, _, _, target = run(p, constraint=c)
    assert (sp, target) == (9000.0, 4000.0)
    tripped = GridConstraintReport(1, "tripped", 0.0, 0.0, 0.0)
    assert run(p, constraint=tripped)[4] == 0.0


def test_amps_become_watts_per_phase_count() -> None:
    p: SchedulePeriod = {"chargingRateUnit": "A", "limit": 16.0, "numberPhases": 1}
    assert period_watts(p, "limit", 230.0) == pytest.approx(3680.0)
    p3: SchedulePeriod = {"chargingRateUnit": "A", "limit": 16.0, "limit_L2": 10.0, "limit_L3": 10}
    assert period_watts(p3, "limit", 230.0) == pytest.approx(36 * 230.0)
    w: SchedulePeriod = {"setpoint": 1000.0, "setpoint_L2": 2000.0, "setpoint_L3": 3000.0}
    assert period_watts(w, "setpoint", 230.0) == 6000.0


def test_no_period_charges_as_the_car_allows() -> None:
    assert run(None)[0:4] == ("ChargingOnly", 11000.0, 0.0, 11000.0)
