"""Modbus device faults over real transports: timeouts, CRC errors and garbage on the RTU
line, exception codes, a device that vanishes and comes back. Each is a DeviceError that
names the device and the reason; the link backs off, fails fast meanwhile, and recovers."""

from __future__ import annotations

import asyncio

import pytest
from devsim_helpers import make_world, run, serve

from hal.devices.base import DeviceError
from hal.devices.meters.modbus_meter import ModbusMeter
from hal.devices.meters.regmap import load_map
from hal.devices.modbus.link import ModbusLink, ModbusRequestError
from hal.sim.transports.faults import LineFaults
from hal.sim.transports.sim_meter import SimMeterDevice
from tests.conftest import WAIT_S


async def _meter(kind: str) -> tuple[object, LineFaults, ModbusLink, ModbusMeter]:
    faults = LineFaults()
    sim = SimMeterDevice(make_world(), 1, faults)
    server, transport = await serve(sim.device, kind, faults, timeout_s=0.15)
    link = ModbusLink(transport)
    return server, faults, link, ModbusMeter("meter-1", link, 1, load_map("sdm630"))


async def _recovers(meter: ModbusMeter, within_s: float = WAIT_S) -> int:
    """Read until it answers again; returns how many attempts failed fast meanwhile."""
    fast = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + within_s
    while loop.time() < end:
        t0 = loop.time()
        try:
            await meter.read()
            return fast
        except DeviceError as exc:
            assert exc.device == "meter-1"
            if loop.time() - t0 < 0.01:
                assert "retry in" in exc.reason
                fast += 1
        await asyncio.sleep(0.02)
    raise AssertionError("meter did not recover")


@pytest.mark.parametrize("kind", ["tcp", "rtu"])
def test_timeout_then_recovery_with_backoff(kind: str) -> None:
    async def main() -> None:
        server, faults, link, meter = await _meter(kind)
        try:
            await meter.read()
            faults.delay_s = 0.5
            with pytest.raises(DeviceError) as err:
                await meter.read()
            assert "timeout" in err.value.reason
            with pytest.raises(DeviceError, match="retry in"):
                await meter.read()  # backing off: fails at once, no bus traffic
            faults.delay_s = 0.0
            await asyncio.sleep(0.5)  # let the late answer drain
            assert await _recovers(meter) >= 0
            assert (await meter.read()).frequency_hz == 50.0
        finally:
            await link.close()
            await server.stop()  # type: ignore[attr-defined]

    run(main())


@pytest.mark.parametrize("kind", ["tcp", "rtu"])
def test_exception_code_is_reported_without_backoff(kind: str) -> None:
    async def main() -> None:
        server, faults, link, meter = await _meter(kind)
        try:
            faults.exception_code = 4  # server device failure
            with pytest.raises(ModbusRequestError) as err:
                await meter.read()
            assert err.value.code == 4 and "server device failure" in err.value.reason
            assert err.value.device == "meter-1"
            faults.exception_code = 0
            await meter.read()  # at once: an answering device is not backed off
        finally:
            await link.close()
            await server.stop()  # type: ignore[attr-defined]

    run(main())


def test_crc_errors_and_garbage_on_the_rtu_line() -> None:
    async def main() -> None:
        server, faults, link, meter = await _meter("rtu")
        try:
            faults.corrupt_crc = 1
            with pytest.raises(DeviceError, match="timeout, no valid answer"):
                await meter.read()
            await _recovers(meter)
            faults.garbage = b"\xff\x13\x37\x00\x42"
            with pytest.raises(DeviceError):
                await meter.read()
            await _recovers(meter)
            r = await meter.read()
            assert r.voltage_v == pytest.approx((230.0,) * 3)
        finally:
            await link.close()
            await server.stop()  # type: ignore[attr-defined]

    run(main())


@pytest.mark.parametrize("kind", ["tcp", "rtu"])
def test_device_vanishes_and_comes_back(kind: str) -> None:
    async def main() -> None:
        server, _faults, link, meter = await _meter(kind)
        try:
            await meter.read()
            await server.vanish()  # type: ignore[attr-defined]
            reasons = set()
            for _ in range(5):
                try:
                    await meter.read()
                except DeviceError as exc:
                    reasons.add(exc.reason.split(":")[0])
                await asyncio.sleep(0.05)
            assert reasons, "reads must fail while the device is gone"
            await server.come_back()  # type: ignore[attr-defined]
            await _recovers(meter, within_s=6.0)
            assert (await meter.read()).frequency_hz == 50.0
        finally:
            await link.close()
            await server.stop()  # type: ignore[attr-defined]

    run(main())


def test_nothing_listening_is_a_connection_fault() -> None:
    async def main() -> None:
        from hal.devices.modbus.link import ModbusTransport
        from hal.sim.transports.modbus_server import free_tcp_port

        link = ModbusLink(ModbusTransport("tcp", port=free_tcp_port(), timeout_s=0.1))
        meter = ModbusMeter("meter-2", link, 1, load_map("sdm630"))
        with pytest.raises(DeviceError) as err:
            await meter.read()
        assert err.value.device == "meter-2" and "cannot connect" in err.value.reason
        with pytest.raises(DeviceError, match=r"offline.*retry in"):
            await meter.read()
        await link.close()

    run(main())
