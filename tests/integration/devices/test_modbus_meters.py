"""Each meter map reads what a simulated meter serves over a real transport (pymodbus server
on loopback TCP, or RTU over a pty pair), with the right scaling and signs.

The simulated registers are encoded here and in hal/sim/transports/sim_meter.py straight
from the manufacturers' register tables, not from the maps under test."""

from __future__ import annotations

import struct
import time

import pytest
from devsim_helpers import make_world, run, serve

from hal.devices.base import MeterReading
from hal.devices.meters.modbus_meter import ModbusMeter
from hal.devices.meters.regmap import load_map
from hal.devices.modbus.link import ModbusLink
from hal.sim.transports.faults import LineFaults
from hal.sim.transports.sim_meter import Encoder, SimMeterDevice, encode_sdm630

EXPORTING = MeterReading(
    voltage_v=(231.2, 229.8, 230.4),
    current_a=(15.9, 16.1, 16.0),
    active_w=(-3650.5, -3690.0, -3700.25),  # discharging the car into the grid
    reactive_var=-420.0,
    power_factor=0.993,
    frequency_hz=49.98,
    import_wh=1_234_500.0,
    export_wh=98_700.0,
    reactive_var_phase=(-140.0, -140.0, -140.0),
    power_factor_phase=(0.99, 0.993, 0.996),
)


def _i32_low_first(v: float, weight: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">i", round(v * weight)))
    return [lo, hi]


def encode_em340(r: MeterReading) -> dict[int, list[int]]:
    """Carlo Gavazzi EM340: int32 low word first, V*10, A*1000, W*10, PF*1000, Hz*10."""
    out: dict[int, list[int]] = {}
    for i in range(3):
        out[0x00 + 2 * i] = _i32_low_first(r.voltage_v[i], 10)
        out[0x0C + 2 * i] = _i32_low_first(r.current_a[i], 1000)
        out[0x12 + 2 * i] = _i32_low_first(r.active_w[i], 10)
        out[0x1E + 2 * i] = _i32_low_first(r.reactive_var_phase[i], 10)
        out[0x2E + i] = [
            struct.unpack(">H", struct.pack(">h", round(r.power_factor_phase[i] * 1000)))[0]
        ]
    out[0x28] = _i32_low_first(r.total_w, 10)
    out[0x2C] = _i32_low_first(r.reactive_var, 10)
    out[0x31] = [round(r.power_factor * 1000)]
    out[0x33] = [round(r.frequency_hz * 10)]
    out[0x34] = _i32_low_first(r.import_wh / 1000, 10)
    out[0x4E] = _i32_low_first(r.export_wh / 1000, 10)
    return out


def _check(got: MeterReading, want: MeterReading, tol: float, per_phase_q: bool) -> None:
    assert got.voltage_v == pytest.approx(want.voltage_v, abs=tol)
    assert got.current_a == pytest.approx(want.current_a, abs=tol)
    assert got.active_w == pytest.approx(want.active_w, abs=tol)
    assert all(p < 0 for p in got.active_w)  # export keeps its sign
    assert got.total_w == pytest.approx(want.total_w, abs=3 * tol)
    assert got.reactive_var == pytest.approx(want.reactive_var, abs=tol)
    assert got.power_factor == pytest.approx(want.power_factor, abs=1e-3)
    assert got.frequency_hz == pytest.approx(want.frequency_hz, abs=max(0.01, tol))
    assert got.import_wh == pytest.approx(want.import_wh, rel=1e-6)
    assert got.export_wh == pytest.approx(want.export_wh, rel=1e-6)
    if per_phase_q:
        assert got.reactive_var_phase == pytest.approx(want.reactive_var_phase, abs=tol)


@pytest.mark.parametrize(
    ("map_name", "encode", "tol", "per_phase_q"),
    [
        ("sdm630", encode_sdm630, 1e-3, True),
        ("sdm72dm_v2", encode_sdm630, 1e-3, False),
        ("em340", encode_em340, 0.051, True),
    ],
)
@pytest.mark.parametrize("kind", ["tcp", "rtu"])
def test_meter_map_reads_served_values(
    map_name: str, encode: Encoder, tol: float, per_phase_q: bool, kind: str
) -> None:
    async def main() -> None:
        faults = LineFaults()
        sim = SimMeterDevice(make_world(), 1, faults, encode=encode, device_id=7)
        sim.override = EXPORTING
        server, transport = await serve(sim.device, kind, faults)
        link = ModbusLink(transport)
        try:
            meter = ModbusMeter(f"meter-{map_name}", link, 7, load_map(map_name))
            _check(await meter.read(), EXPORTING, tol, per_phase_q)
            assert sim.reads == len(meter.map.reads())
        finally:
            await link.close()
            await server.stop()

    run(main())


def test_sdm630_follows_the_simulated_world() -> None:
    """Fed by the SimWorld: charging power shows up with + sign and energy integrates."""

    async def main() -> None:
        import asyncio

        world = make_world({"ev": {"plug_in_at_s": 0.0}, "power_stage": {"time_constant_s": 0.01}})
        ev = world.evses[1]
        ev.mcu.set_pwm(50.0, time.monotonic())
        ev.mcu.request_contactor(True, time.monotonic())
        ev.stage.command(6900.0, 0.0)

        async def physics(seconds: float) -> None:  # what the MCU server's status loop does
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                world.advance(time.monotonic())
                await asyncio.sleep(0.01)

        faults = LineFaults()
        sim = SimMeterDevice(world, 1, faults)
        server, transport = await serve(sim.device, "rtu", faults)
        link = ModbusLink(transport)
        try:
            meter = ModbusMeter("meter-1", link, 1, load_map("sdm630"))
            await physics(0.3)
            r = await meter.read()
            assert r.total_w == pytest.approx(6900.0, rel=0.01)
            assert r.current_a[0] == pytest.approx(2300.0 / 230.0, rel=0.01)
            assert r.voltage_v == pytest.approx((230.0,) * 3)
            e1 = r.import_wh
            await physics(0.2)
            assert (await meter.read()).import_wh > e1 > 0.0
        finally:
            await link.close()
            await server.stop()

    run(main())
