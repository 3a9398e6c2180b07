"""OCPP 2.1 Q09 LocalLoadBalancing: hal's grid meter reading, kept by the controller's
GridMeterView, through the energy manager to one request per EVSE."""

from __future__ import annotations

from evse.energy.grid_meter import STALE_S, GridMeterView
from evse.energy.manager import EnergyInputs, EvLimits, decide
from evse.energy.types import SchedulePeriod
from hal.protocol import Event, GridMeterReport, Measurement

EV = EvLimits(max_charge_w=11000.0, max_discharge_w=10000.0)
LLB: SchedulePeriod = {
    "chargingRateUnit": "W",
    "operationMode": "LocalLoadBalancing",
    "limit": 11000.0,
    "dischargeLimit": -10000.0,
}


def reading(total_w: float, seq: int, valid: bool = True) -> GridMeterReport:
    return GridMeterReport([total_w / 3] * 3, total_w, 1000.0, 0.0, valid, seq)


def request_w(view: GridMeterView, now: float, period: SchedulePeriod = LLB, **kw: object) -> float:
    """The setpoint hal gets for EVSE 1, as the controller builds it."""
    bal = view.balance(1, now)
    inp = EnergyInputs(
        1,
        period,
        EV,
        now,
        may_discharge=True,
        site_import_w=bal.site_import_w if bal else None,
        own_w=bal.own_w if bal else 0.0,
        **kw,  # type: ignore[arg-type]
    )
    return decide(inp).request.setpoint_w


def test_q09_zero_exchange_from_the_grid_meter_reading() -> None:
    view = GridMeterView()
    # The house takes 3 kW, the EVSE charges 2 kW: the site imports 5 kW.
    assert view.on_message(reading(5000.0, 1), 0.0, lambda: {1: 2000.0})
    assert request_w(view, 0.1) == -3000.0  # discharge 3 kW: no exchange
    # 4 kW of PV surplus exported while the EVSE charges 1 kW: charge with all of it.
    view.on_message(reading(-4000.0, 2), 1.0, lambda: {1: 1000.0})
    assert request_w(view, 1.1) == 5000.0


def test_q09_one_balance_per_reading_not_per_report() -> None:
    """hal repeats a reading every report period; the EVSE's power paired with it is the
    one when it arrived, so the EVSE's own ramp is never taken for a change of load."""
    view = GridMeterView()
    view.on_message(reading(3000.0, 1), 0.0, lambda: {1: 0.0})
    assert request_w(view, 0.0) == -3000.0
    # Same reading repeated while the EVSE ramps towards -3 kW: the request holds.
    view.on_message(reading(3000.0, 1), 0.1, lambda: {1: -1500.0})
    assert request_w(view, 0.1) == -3000.0
    # The next reading sees the balance.
    view.on_message(reading(0.0, 2), 1.0, lambda: {1: -3000.0})
    assert request_w(view, 1.0) == -3000.0


def test_q09_no_valid_or_fresh_reading_holds_at_zero() -> None:
    view = GridMeterView()
    assert request_w(view, 0.0) == 0.0  # nothing read yet
    view.on_message(reading(5000.0, 1), 0.0, lambda: {1: 0.0})
    assert request_w(view, 0.1) == -5000.0
    view.on_message(reading(5000.0, 1, valid=False), 0.2, lambda: {1: 0.0})  # meter fault
    assert request_w(view, 0.2) == 0.0
    view.on_message(reading(5000.0, 2), 0.3, lambda: {1: 0.0})
    assert request_w(view, 0.3) == -5000.0
    assert request_w(view, 0.3 + STALE_S + 0.1) == 0.0  # hal silent: the reading is stale


def test_q09_the_evse_with_no_measurement_at_the_reading_holds_at_zero() -> None:
    view = GridMeterView()
    view.on_message(reading(5000.0, 1), 0.0, dict)
    assert request_w(view, 0.0) == 0.0


def test_q09_within_the_period_limits() -> None:
    view = GridMeterView()
    view.on_message(reading(25000.0, 1), 0.0, lambda: {1: 0.0})  # more than it may give
    assert request_w(view, 0.0) == -10000.0  # dischargeLimit
    no_discharge: SchedulePeriod = {**LLB, "dischargeLimit": 0.0}
    assert request_w(view, 0.0, no_discharge) == 0.0


def test_q09_a_setpoint_is_followed_within_the_grid_connection_limit() -> None:
    view = GridMeterView()
    # House 6 kW, EVSE at 0: the site imports 6 kW; the connection allows 10 kW.
    view.on_message(reading(6000.0, 1), 0.0, lambda: {1: 0.0})
    fast: SchedulePeriod = {**LLB, "setpoint": 11000.0}
    assert request_w(view, 0.0, fast, grid_limit_w=10000.0) == 4000.0  # 6 + 4 = 10 kW
    assert request_w(view, 0.0, fast) == 11000.0  # no limit configured: the setpoint
    slow: SchedulePeriod = {**LLB, "setpoint": 2000.0}
    assert request_w(view, 0.0, slow, grid_limit_w=10000.0) == 2000.0  # within: as asked
    # 15 kW of PV surplus, export limited to 10 kW: the EVSE must take at least 5 kW.
    view.on_message(reading(-15000.0, 2), 1.0, lambda: {1: 0.0})
    assert request_w(view, 1.0, slow, grid_limit_w=10000.0) == 5000.0


def test_q09_two_evses_share_the_correction() -> None:
    view = GridMeterView()
    view.on_message(reading(6000.0, 1), 0.0, lambda: {1: 0.0, 2: 0.0})
    bal = view.balance(1, 0.0)
    assert bal is not None and bal.site_import_w == 3000.0  # half each, not twice the load


def test_station_events_are_taken_not_passed_to_an_evse() -> None:
    view = GridMeterView()
    fault = Event(0, "fault", {"device": "grid-meter", "reason": "no answer"})
    assert view.on_message(fault, 0.0, dict)
    assert not view.on_message(Event(1, "fault", {}), 0.0, dict)
    m = Measurement(1, [230.0], 50.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, "A", False)
    assert not view.on_message(m, 0.0, dict)
