"""Poll cycle of a full hal sample: the MCU's grid measurement plus the power stage's state,
over the real transports (MCU serial protocol on a pty, SunSpec over Modbus RTU on a pty
pair, or Modbus TCP on loopback) against the simulated devices, with the in-process
simulated devices (`devices.mode = "sim"`) measured in the same run as the peer.

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
WARMUP = 100


def _world() -> SimWorld:
    cfg = parse_sim(Table({"ev": {"plug_in_at_s": 0.0}}, "sim"), 230.0, 50.0, 3)
    unit = EvseUnitConfig(1, "dc", 11000.0, 11000.0, 6000.0, 3)
    return SimWorld(cfg, (unit,), time.monotonic())


async def _measure(sample: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(WARMUP):
        await sample()
    out = []
    for _ in range(SAMPLES):
        t0 = time.perf_counter()
        await sample()
        out.append(time.perf_counter() - t0)
    return out


def _p99(xs: list[float]) -> float:
    return sorted(xs)[int(0.99 * (len(xs) - 1))]


async def _run() -> dict[str, list[float]]:
    world = _world()
    rating = PowerStageRating(11000.0, 11000.0, 6000.0, 3)
    results: dict[str, list[float]] = {}

    mcu_srv = SimMcuServer(world, 1)
    await mcu_srv.start()
    mcu = SerialMcu("mcu-1", McuLinkSettings(mcu_srv.path, command_timeout_s=0.5))
    await mcu.open()
    servers = []
    stages = {}
    for kind in ("rtu", "tcp"):
        faults = LineFaults()
        inv = SimInverterDevice(world, 1, faults)
        srv = SimModbusServer(inv.device, kind, faults)
        await srv.start()
        servers.append(srv)
        t = (ModbusTransport("rtu", device=srv.path, baudrate=115200, timeout_s=0.5)
             if kind == "rtu" else ModbusTransport("tcp", port=srv.port, timeout_s=0.5))
        stage = SunSpecPowerStage(f"stage-{kind}", SunSpecClient("s", ModbusLink(t), 1), rating)
        await stage.open()
        stages[kind] = stage
    try:
        async def pty_fresh() -> None:
            await mcu.request_state()  # one round trip: GET_STATUS -> STATUS
            await stages["rtu"].read_state()

        async def pty_pushed() -> None:
            await mcu.keepalive()
            await mcu.read_state()  # the latest pushed status: what the loop reads
            await stages["rtu"].read_state()

        async def tcp_stage() -> None:
            await mcu.request_state()
            await stages["tcp"].read_state()

        async def mcu_only() -> None:
            await mcu.request_state()

        async def stage_rtu_only() -> None:
            await stages["rtu"].read_state()

        ip_mcu = InProcessMcu(world, 1, time.monotonic)
        ip_stage = InProcessPowerStage(world, 1, time.monotonic)

        async def in_process() -> None:
            await ip_mcu.read_state()
            await ip_stage.read_state()

        for name, fn in (("in-process peer (mode sim)", in_process),
                         ("pty: MCU round trip + stage RTU", pty_fresh),
                         ("pty: MCU pushed status + stage RTU", pty_pushed),
                         ("MCU round trip (pty) + stage TCP", tcp_stage),
                         ("MCU round trip only (pty)", mcu_only),
                         ("stage read_state only (RTU pty)", stage_rtu_only)):
            results[name] = await _measure(fn)
    finally:
        await mcu.close()
        await mcu_srv.stop()
        for stage in stages.values():
            await stage.client.link.close()
        for srv in servers:
            await srv.stop()
    return results


def main() -> int:
    results = asyncio.run(_run())
    peer = statistics.median(results["in-process peer (mode sim)"])
    print(f"poll cycle of a full hal sample, {SAMPLES} samples each "
          "(simulated devices in the same process as the drivers)")
    print(f"{'variant':40s} {'median':>10s} {'p99':>10s} {'x peer':>8s}")
    for name, xs in results.items():
        med = statistics.median(xs)
        print(f"{name:40s} {med * 1e3:8.3f}ms {_p99(xs) * 1e3:8.3f}ms {med / peer:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
