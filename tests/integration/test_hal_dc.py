"""DC through the hal contract with hal running as a process on simulated hardware
(`[sim.dc]`: a DC output with the car's battery behind it): cable check (IEC 61851-23
isolation check), precharge, delivery both ways capped by hal's setpoint, welding check,
and the meter's energy equal to the battery's SOC change (read from its voltage)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal import protocol as p
from tests.conftest import SIM_TEMPLATE, Client, HalProcess, controller

CAPACITY_WH = 200.0  # a small pack, so a few seconds move its SOC visibly
V_EMPTY, V_FULL = 330.0, 400.0

DC_SIM = f"""
[sim.dc]
isolation_check_s = 1.0
precharge_v_per_s = 400.0
[sim.dc.battery]
capacity_kwh = {CAPACITY_WH / 1000.0}
soc_pct = 50.0
v_empty = {V_EMPTY}
v_full = {V_FULL}
max_charge_a = 100.0
max_discharge_a = 100.0
"""


@pytest.fixture
def dc_hal(short_tmp: Path) -> Iterator[Client]:
    cfg = short_tmp / "station.toml"
    text = SIM_TEMPLATE.format(dir=short_tmp, period_ms=20, keepalive_timeout_s=3.0,
                               ramp_down_s=0.5, request_w=0.0, grid_events="", max_clients=8)
    cfg.write_text(text + DC_SIM)
    proc = HalProcess(cfg).start()
    c, _ = controller(proc.socket)
    try:
        yield c
    finally:
        c.close()
        proc.stop(signal.SIGKILL)


def dc(c: Client, kind: str, v: float = 0.0, a: float = 0.0) -> None:
    c.send(p.DcCommand(1, kind, v, a))
    c.wait_for(p.Ack, pred=lambda m: m.ref_type == "dc_command")


def report(c: Client, pred: object) -> p.DcReport:
    return c.wait_for(p.DcReport, pred=pred)  # type: ignore[arg-type]


def power(c: Client, watts: float) -> None:
    c.send(p.PowerRequest(1, "setpoint", watts, min(watts, 0.0), max(watts, 0.0)))


STANDS = 30  # reports (50 ms apart) a reading must stand: longer than the 1 s meter period


def settled_energy(c: Client) -> float:
    """Net meter energy (import - export) once no power flows and the meter's reading has
    stood over more than one meter period (so it was read after the flow stopped)."""
    prev, same = None, 0
    while same < STANDS:
        m = c.wait_for(p.Measurement, pred=lambda m: m.energy_valid and abs(m.active_w) < 1.0)
        net = m.import_wh - m.export_wh
        same = same + 1 if prev is not None and abs(net - prev) < 1e-6 else 0
        prev = net
    return prev


def soc_wh(r: p.DcReport) -> float:
    """The battery's energy from its open-circuit voltage (no current flows)."""
    return (r.present_v - V_EMPTY) / (V_FULL - V_EMPTY) * CAPACITY_WH


def start(c: Client) -> None:
    c.send(p.PilotCommand(1, 5.0))
    c.send(p.AllowPowerOn(1, True, "test"))
    power(c, 11_000.0)
    c.wait_for(p.Measurement, pred=lambda m: m.contactor_closed)


def test_cable_check_isolation_valid_after_its_time(dc_hal: Client) -> None:
    c = dc_hal
    first = report(c, lambda r: True)
    assert first.isolation == "unknown" and first.kind == "off" and first.valid
    dc(c, "cable_check")
    report(c, lambda r: r.kind == "cable_check" and r.isolation == "ongoing")
    done = report(c, lambda r: r.isolation == "valid")
    assert done.present_v > 0.0  # the test voltage is on the output
    dc(c, "off")
    assert report(c, lambda r: r.kind == "off").isolation == "unknown"


def test_precharge_reaches_the_target(dc_hal: Client) -> None:
    c = dc_hal
    dc(c, "precharge", 365.0)
    r = report(c, lambda r: r.precharge_done)
    assert r.present_v == pytest.approx(365.0, abs=5.0) and r.present_a == 0.0


def test_deliver_charge_and_discharge_meter_agrees_with_soc(dc_hal: Client) -> None:
    c = dc_hal
    start(c)
    dc(c, "deliver", 400.0, 0.0)
    r0 = report(c, lambda r: r.kind == "deliver" and abs(r.present_a) < 1e-3)
    e0 = settled_energy(c)
    dc(c, "deliver", 400.0, 25.0)
    charging = report(c, lambda r: r.present_a > 24.0)
    assert charging.present_a <= 25.0 + 1e-6
    c.wait_for(p.Measurement, pred=lambda m: m.import_wh - m.export_wh > e0 + 8.0)
    # hal's setpoint caps the DC current: 2 kW at ~370 V is ~5.4 A, not 25 A
    power(c, 2_000.0)
    capped = report(c, lambda r: abs(r.present_v * r.present_a - 2_000.0) < 20.0)
    assert capped.present_a < 6.0
    # discharge: the car gives back what hal allows
    power(c, -11_000.0)
    dc(c, "deliver", 400.0, -20.0)
    report(c, lambda r: r.present_a < -19.0)
    c.wait_for(p.Measurement, pred=lambda m: m.export_wh > 3.0)
    dc(c, "deliver", 400.0, 0.0)
    e1 = settled_energy(c)
    r1 = report(c, lambda r: abs(r.present_a) < 1e-6)
    assert e1 - e0 > 1.0  # net charged
    assert soc_wh(r1) - soc_wh(r0) == pytest.approx(e1 - e0, rel=0.01)


def test_welding_check_reports_decaying_output_voltage(dc_hal: Client) -> None:
    c = dc_hal
    start(c)
    dc(c, "deliver", 400.0, 10.0)
    report(c, lambda r: r.present_a > 9.0)
    power(c, 0.0)
    dc(c, "off")
    dc(c, "welding_check")
    r = report(c, lambda r: r.welding_v is not None and r.welding_v < 10.0)
    assert r.kind == "welding_check" and r.present_a == 0.0


def test_bad_dc_command_is_refused_and_changes_nothing(dc_hal: Client) -> None:
    c = dc_hal
    c.send(p.DcCommand(1, "boost", 1000.0, 1.0))
    err = c.wait_for(p.Error, pred=lambda e: e.ref_type == "dc_command")
    assert err.code == p.E_REJECTED and "boost" in err.message
    c.send(p.DcCommand(7, "off"))
    assert c.wait_for(p.Error, pred=lambda e: e.ref_type == "dc_command").code == p.E_UNKNOWN_EVSE
    assert report(c, lambda r: True).kind == "off"


def test_keepalive_loss_turns_the_output_off(dc_hal: Client) -> None:
    """Safety first: evse falls silent mid precharge: hal commands the DC output off and
    keeps it off (no voltage left on the cable)."""
    c = dc_hal
    dc(c, "precharge", 365.0)
    report(c, lambda r: r.precharge_done)
    c.stop_keepalive()
    c.wait_for(p.Event, pred=lambda e: e.kind == "keepalive_lost")
    off = report(c, lambda r: r.kind == "off" and r.present_v < 10.0)
    assert off.present_a == 0.0 and not off.precharge_done
