"""OCPP 2.1 Q08 LocalFrequency with an ISO 15118-20 car: hal computes the power from its
own frequency on every sample; the request evse sends carries only the baseline. The
SECC's ChargeLoop target must be hal's computed setpoint (within hal's constraint), or an
AC car never hears hal's frequency response (the car's inverter is the grid device)."""

from __future__ import annotations

import tomllib

import pytest

from evse.config import parse_station
from evse.controller import Controller
from evse.iso15118.d20 import ac_charge_loop as acl
from evse.station.iso_session import IsoSession
from hal.protocol import GridConstraintReport, Measurement, PowerRequest
from tests.conftest import ROOT
from tests.unit.iso15118.test_d20_power_loop import ac_ctx, ac_req, ac_target

SIM = ROOT / "config" / "sim.toml"
CURVE = [{"frequency": 49.8, "power": -4000.0}, {"frequency": 50.0, "power": 0.0},
         {"frequency": 50.2, "power": 4000.0}]


def _session() -> tuple[Controller, IsoSession]:
    data = tomllib.loads(SIM.read_text())
    data["controller"]["pwm_duty_pct"] = 5.0
    data["iso15118"] = [{"evse": 1, "interface": "eth1", "evseid": "DE*ABC*E1"}]
    c = Controller(parse_station(data, SIM), request_w=6000.0)
    c.free_vend = True
    view = c._view(1)
    view.max_charge_w = view.max_discharge_w = 11000.0
    c.v2x = lambda eid: True  # Q01: discharge allowed
    return c, IsoSession(c, c.cfg.iso15118[0])


def _hal_measures(hz: float, setpoint_w: float, requested_w: float, closed: bool
                  ) -> Measurement:
    """hal's report: `setpoint_w` what it commands now (0 while the contactor is open),
    `requested_w` the mode's value (for LocalFrequency: baseline + curve at `hz`)."""
    return Measurement(evse_id=1, voltage_v=[230.0] * 3, frequency_hz=hz, active_w=0.0,
                       reactive_var=0.0, setpoint_w=setpoint_w, requested_w=requested_w,
                       import_wh=0.0, export_wh=0.0, cp_state="C" if closed else "B",
                       contactor_closed=closed, energy_valid=True, grid_valid=True)


def _local_frequency(baseline_w: float = 0.0) -> PowerRequest:
    """What evse/energy sends hal for a LocalFrequency period: the baseline as setpoint."""
    return PowerRequest(1, "setpoint", baseline_w, -11000.0, 11000.0,
                        operation_mode="LocalFrequency", baseline_w=baseline_w,
                        freq_watt=CURVE)


def test_Q08_local_frequency_car_target_is_hals_computed_setpoint_at_49_9_hz() -> None:
    """The scenario runner's case: at 49.9 Hz hal asks -2 kW, the car was offered 0 W."""
    c, iso = _session()
    c._sent_request[1] = _local_frequency()
    c.evses[1].constraint = GridConstraintReport(1, "normal", -11000.0, 11000.0, 0.0)
    c.evses[1].measurement = _hal_measures(49.9, -2000.0, -2000.0, closed=True)
    assert iso.view().target_w == pytest.approx(-2000.0)
    # ... and that is what the next AC_BPT Dynamic ChargeLoopRes offers the car
    loop = acl.handle(ac_req("AC_BPT", "Dynamic"), ac_ctx("AC_BPT", "Dynamic"), iso.view(), 0.0)
    assert ac_target(loop.response) == pytest.approx(-2000.0, rel=1e-3)


def test_Q08_local_frequency_target_stays_within_hals_constraint() -> None:
    """A limit-max-discharge (or droop) in hal still caps what the car is offered."""
    c, iso = _session()
    c._sent_request[1] = _local_frequency()
    c.evses[1].constraint = GridConstraintReport(1, "normal", -1500.0, 11000.0, 0.0)
    c.evses[1].measurement = _hal_measures(49.9, -2000.0, -2000.0, closed=True)
    assert iso.view().target_w == pytest.approx(-1500.0)
    c.evses[1].constraint = GridConstraintReport(1, "tripped", 0.0, 0.0, 0.0)
    assert iso.view().target_w == 0.0


def test_Q08_local_frequency_before_the_contactor_closes_offers_what_hal_will_command() -> None:
    """hal commands 0 W while the contactor is open; its mode value (requested_w, here
    baseline 1 kW + curve at 50.1 Hz = 3 kW) is what the car is asked for until then."""
    c, iso = _session()
    c._sent_request[1] = _local_frequency(baseline_w=1000.0)
    c.evses[1].constraint = GridConstraintReport(1, "normal", -11000.0, 11000.0, 0.0)
    c.evses[1].measurement = _hal_measures(50.1, 0.0, 3000.0, closed=False)
    assert iso.view().target_w == pytest.approx(3000.0)


def test_Q04_a_mode_evse_computes_keeps_the_requests_setpoint() -> None:
    """CentralSetpoint (evse computes it): the request is the target, not hal's report."""
    c, iso = _session()
    c._sent_request[1] = PowerRequest(1, "setpoint", -3000.0, -11000.0, 11000.0,
                                      operation_mode="CentralSetpoint")
    c.evses[1].constraint = GridConstraintReport(1, "normal", -11000.0, 11000.0, 0.0)
    c.evses[1].measurement = _hal_measures(50.0, -2500.0, -2500.0, closed=True)  # ramping
    assert iso.view().target_w == pytest.approx(-3000.0)
