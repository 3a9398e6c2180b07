"""A pymodbus server for a simulated device, on loopback TCP or as RTU on a pty pair.

RTU: the server opens one pty, the driver opens another, and a relay copies bytes between
the two masters (what `socat pty pty` does). The relay is the wire, so that is where line
faults are injected: a flipped CRC byte, garbage bytes, silence. Over TCP a vanished
device is a server that shuts down and later listens again on the same port.
"""

from __future__ import annotations

import asyncio
import socket

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimDevice

from hal.sim.transports.faults import LineFaults
from hal.sim.transports.pty_pair import PtyPair


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PtyBridge:
    """Two pty pairs joined master to master; `faults` act on bytes towards the driver."""

    def __init__(self, faults: LineFaults, baud: int | None = None) -> None:
        self.device_side = PtyPair(baud)  # the simulated device opens this path
        self.driver_side = PtyPair(baud)  # the driver opens this path
        self.faults = faults

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.device_side.master, self._to_driver)
        loop.add_reader(self.driver_side.master, self._to_device)

    def stop(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.device_side.master)
        loop.remove_reader(self.driver_side.master)
        self.device_side.close()
        self.driver_side.close()

    def _to_device(self) -> None:
        data = self.driver_side.read()
        if data and not self.faults.silent:
            self.device_side.write(data)

    def _to_driver(self) -> None:
        data = self.device_side.read()
        f = self.faults
        if not data or f.silent:
            return
        if f.corrupt_crc > 0:
            f.corrupt_crc -= 1
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        if f.garbage:
            data, f.garbage = f.garbage + data, b""
        self.driver_side.write(data)


class SimModbusServer:
    def __init__(
        self, device: SimDevice, transport: str, faults: LineFaults, baud: int | None = None
    ) -> None:
        """`baud` (RTU): emulate the wire's pace in both directions (benchmarks)."""
        if transport not in ("tcp", "rtu"):
            raise ValueError(f"transport {transport!r}: tcp or rtu")
        self.device = device
        self.transport = transport
        self.faults = faults
        self.host = "127.0.0.1"
        self.port = free_tcp_port() if transport == "tcp" else 0
        self._bridge = PtyBridge(faults, baud) if transport == "rtu" else None
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    @property
    def path(self) -> str:
        """The serial port the driver opens (RTU)."""
        assert self._bridge is not None
        return self._bridge.driver_side.path

    async def start(self) -> None:
        if self._bridge is not None:
            self._bridge.start()
            self._server = ModbusSerialServer(
                self.device,
                framer=FramerType.RTU,
                port=self._bridge.device_side.path,
                baudrate=115200,
            )
        else:
            self._server = ModbusTcpServer(self.device, address=(self.host, self.port))
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
        if self._bridge is not None:
            self._bridge.stop()
            self._bridge = None

    async def vanish(self) -> None:
        """The device goes away: TCP stops listening and drops connections; RTU goes
        silent on the line."""
        self.faults.silent = True
        if self.transport == "tcp" and self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    async def come_back(self) -> None:
        self.faults.silent = False
        if self.transport == "tcp" and self._server is None:
            self._server = ModbusTcpServer(self.device, address=(self.host, self.port))
            await self._server.serve_forever(background=True)
