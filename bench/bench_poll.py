"""Poll cycle of a full hal sample: the MCU's grid measurement plus the power stage's state,
over the real transports (MCU serial protocol on a pty, SunSpec over Modbus RTU on a pty
pair, or Modbus TCP on loopback) against the simulated devices, with the in-process
simulated devices (`devices.mode = "sim"`) measured in the same run as the peer.

A pty moves bytes at memory speed; the "wire-timed" variants release every byte at the
pace of a UART (115200 or 9600 baud, 8N1) to show what a board's serial lines cost.

`python -m bench poll` (or `make bench BENCH=poll`). Prints median and p99 per variant.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from hal.config import EvseUnitConfig
from hal.config_reader import Table
from hal.devices.base import PowerStageRating
from hal.devices.mcu_link.serial_mcu import McuLinkSettings, SerialMcu
from hal.devices.modbus.link import ModbusLink, ModbusTransport
from hal.devices.sunspec.client import SunSpecClient
from hal.devices.sunspec.der import SunSpecPowerStage
from hal.sim.config import parse_sim
from hal.sim.inprocess import InProcessMcu, InProcessPowerStage
from hal.sim.transports.faults import LineFaults
from hal.sim.transports.mcu_server import SimMcuServer
from hal.sim.transports.modbus_server import SimModbusServer
from hal.sim.transports.sim_inverter import SimInverterDevice
from hal.sim.world import SimWorld

SAMPLES = 2000
WIRE_SAMPLES = 300  # wire-timed variants are slow per sample
WARMUP = 50
RATING = PowerStageRating(11000.0, 11000.0, 6000.0, 3)
Sample = Callable[[], Awaitable[object]]


def _world() -> SimWorld:
    cfg = parse_sim(Table({"ev": {"plug_in_at_s": 0.0}}, "sim"), 230.0, 50.0, 3)
    unit = EvseUnitConfig(1, "dc", 11000.0, 11000.0, 6000.0, 3)
    return SimWorld(cfg, (unit,), time.monotonic())


async def _measure(sample: Sample, n: int) -> list[float]:
    for _ in range(WARMUP):
        await sample()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await sample()
        out.append(time.perf_counter() - t0)
    return out


def _p99(xs: list[float]) -> float:
    return sorted(xs)[int(0.99 * (len(xs) - 1))]


class Rig:
    """The simulated devices behind their transports and the real drivers, for cleanup."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.closers: list[Callable[[], Awaitable[None]]] = []

    async def mcu(self, baud: int | None) -> SerialMcu:
        srv = SimMcuServer(self.world, 1, baud=baud)
        await srv.start()
        mcu = SerialMcu(
            "mcu-1", McuLinkSettings(srv.path, command_timeout_s=1.0, link_timeout_s=2.0)
        )
        await mcu.open()
        self.closers += [mcu.close, srv.stop]
        return mcu

    async def stage(self, kind: str, baud: int | None) -> SunSpecPowerStage:
        faults = LineFaults()
        srv = SimModbusServer(
            SimInverterDevice(self.world, 1, faults).device, kind, faults, baud=baud
        )
        await srv.start()
        t = (
            ModbusTransport("rtu", device=srv.path, baudrate=baud or 115200, timeout_s=2.0)
            if kind == "rtu"
            else ModbusTransport("tcp", port=srv.port, timeout_s=2.0)
        )
        link = ModbusLink(t)
        stage = SunSpecPowerStage(f"stage-{kind}", SunSpecClient("stage", link, 1), RATING)
        await stage.open()
        self.closers += [link.close, srv.stop]
        return stage

    async def close(self) -> None:
        for close in self.closers:
            await close()


async def _run() -> dict[str, list[float]]:
    world = _world()
    rig = Rig(world)
    results: dict[str, list[float]] = {}
    try:
        mcu = await rig.mcu(None)
        rtu = await rig.stage("rtu", None)
        tcp = await rig.stage("tcp", None)
        mcu_w = await rig.mcu(115200)
        rtu_w = await rig.stage("rtu", 115200)
        rtu_9600 = await rig.stage("rtu", 9600)
        ip_mcu = InProcessMcu(world, 1, time.monotonic)
        ip_stage = InProcessPowerStage(world, 1, time.monotonic)

        async def in_process() -> None:
            await ip_mcu.read_state()
            await ip_stage.read_state()

        def fresh(m: SerialMcu, s: SunSpecPowerStage) -> Sample:
            async def sample() -> None:
                await m.request_state()  # one round trip: GET_STATUS -> STATUS
                await s.read_state()

            return sample

        def pushed(m: SerialMcu, s: SunSpecPowerStage) -> Sample:
            async def sample() -> None:
                await m.keepalive()
                await m.read_state()  # the latest pushed status: what the loop reads
                await s.read_state()

            return sample

        variants: list[tuple[str, Sample, int]] = [
            ("in-process peer (mode sim)", in_process, SAMPLES),
            ("pty: MCU round trip + stage RTU", fresh(mcu, rtu), SAMPLES),
            ("pty: MCU pushed status + stage RTU", pushed(mcu, rtu), SAMPLES),
            ("pty MCU round trip + stage TCP", fresh(mcu, tcp), SAMPLES),
            ("pty: MCU round trip only", mcu.request_state, SAMPLES),
            ("pty: stage read_state only (RTU)", rtu.read_state, SAMPLES),
            ("115200 wire: MCU round trip + RTU", fresh(mcu_w, rtu_w), WIRE_SAMPLES),
            ("115200 wire: MCU pushed + RTU", pushed(mcu_w, rtu_w), WIRE_SAMPLES),
            ("9600 wire: stage read_state (RTU)", rtu_9600.read_state, WIRE_SAMPLES // 3),
        ]
        for name, fn, n in variants:
            results[name] = await _measure(fn, n)
    finally:
        await rig.close()
    return results


def main() -> int:
    results = asyncio.run(_run())
    peer = statistics.median(results["in-process peer (mode sim)"])
    print("poll cycle of a full hal sample (MCU grid measurement + power-stage state);")
    print("simulated devices in the same process as the drivers")
    print(f"{'variant':38s} {'n':>5s} {'median':>10s} {'p99':>10s} {'x peer':>8s}")
    for name, xs in results.items():
        med = statistics.median(xs)
        print(
            f"{name:38s} {len(xs):5d} {med * 1e3:8.3f}ms {_p99(xs) * 1e3:8.3f}ms {med / peer:8.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
