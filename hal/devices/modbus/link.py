"""One Modbus transport (a TCP connection or an RS-485 port) shared by the devices on it.

Requests are serialised (RS-485 is half duplex; one TCP gateway often is too). Every
failure becomes `DeviceError(device, reason)`: a timeout, an exception response (with its
code), a broken connection. A device that failed is retried with exponential backoff and
fails fast in between, so a dead meter cannot stall the control loop; a lost connection
is re-established on the first request after its backoff.

Each request travels on a lane (`"control"` by default; `"settings"` for a protection
push): the back-off is kept per device and lane, so one slow settings write does not
make the next state read of the same device fail fast.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from hal.devices.backoff import Backoff
from hal.devices.base import DeviceError

Client = AsyncModbusTcpClient | AsyncModbusSerialClient
R = TypeVar("R")

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}


@dataclass(frozen=True, slots=True)
class ModbusTransport:
    kind: str  # "tcp" | "rtu"
    host: str = "127.0.0.1"  # tcp
    port: int = 502  # tcp
    device: str = ""  # rtu: serial port path
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    timeout_s: float = 0.5

    @property
    def key(self) -> str:
        """Devices whose transports have the same key share one link."""
        return f"tcp:{self.host}:{self.port}" if self.kind == "tcp" else f"rtu:{self.device}"


class ModbusRequestError(DeviceError):
    """The device answered with a Modbus exception: it is alive but refused."""

    def __init__(self, device: str, code: int, what: str) -> None:
        super().__init__(
            device, f"{what}: exception code {code} ({EXCEPTION_NAMES.get(code, 'unknown')})"
        )
        self.code = code


class ModbusLink:
    def __init__(
        self, transport: ModbusTransport, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.transport = transport
        self._clock = clock
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self._conn_backoff = Backoff(0.1, 2.0, 5.0)
        self._dev_backoff: dict[tuple[int, str], Backoff] = {}
        self._last_reason: dict[tuple[int, str], str] = {}
        self._conn_reason = ""

    def _make_client(self) -> Client:
        t = self.transport
        # retries=0 and reconnect_delay=0: retrying and reconnecting is our job (backoff).
        if t.kind == "tcp":
            return AsyncModbusTcpClient(
                t.host, port=t.port, timeout=t.timeout_s, retries=0, reconnect_delay=0
            )
        return AsyncModbusSerialClient(
            t.device,
            framer=FramerType.RTU,
            baudrate=t.baudrate,
            parity=t.parity,
            stopbits=t.stopbits,
            timeout=t.timeout_s,
            retries=0,
            reconnect_delay=0,
        )

    async def _connected(self, device: str) -> Client:
        if self._client is not None and self._client.connected:
            return self._client
        now = self._clock()
        if not self._conn_backoff.due(now):
            raise DeviceError(
                device,
                f"offline: {self._conn_reason}; retry in {self._conn_backoff.retry_in(now):.2f} s",
            )
        self._drop()
        client = self._make_client()
        try:
            ok = await asyncio.wait_for(client.connect(), self.transport.timeout_s * 2)
        except (TimeoutError, OSError, ModbusException) as exc:
            ok, why = False, str(exc) or type(exc).__name__
        else:
            why = "connection refused or port missing"
        if not ok:
            client.close()
            self._conn_backoff.failed(self._clock())
            self._conn_reason = f"cannot connect to {self.transport.key}: {why}"
            raise DeviceError(device, self._conn_reason)
        self._conn_backoff.succeeded()
        self._client = client
        return client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def read(
        self,
        device: str,
        device_id: int,
        function: int,
        address: int,
        count: int,
        lane: str = "control",
    ) -> list[int]:
        """Read `count` registers with function 3 (holding) or 4 (input)."""
        what = f"read fc{function} {address}+{count}"

        async def op(c: Client) -> list[int]:
            if function == 4:
                rr = await c.read_input_registers(address, count=count, device_id=device_id)
            else:
                rr = await c.read_holding_registers(address, count=count, device_id=device_id)
            if rr.isError():
                raise ModbusRequestError(device, int(rr.exception_code), what)
            regs = list(rr.registers)
            if len(regs) != count:
                raise DeviceError(device, f"{what}: got {len(regs)} registers")
            return regs

        return await self._run(device, (device_id, lane), what, op)

    async def write(
        self, device: str, device_id: int, address: int, values: list[int], lane: str = "control"
    ) -> None:
        what = f"write {address}+{len(values)}"

        async def op(c: Client) -> None:
            rr = await c.write_registers(address, values, device_id=device_id)
            if rr.isError():
                raise ModbusRequestError(device, int(rr.exception_code), what)

        await self._run(device, (device_id, lane), what, op)

    async def _run(
        self, device: str, key: tuple[int, str], what: str, op: Callable[[Client], Awaitable[R]]
    ) -> R:
        now = self._clock()
        backoff = self._dev_backoff.setdefault(key, Backoff(0.1, 2.0, 5.0))
        if not backoff.due(now):
            raise DeviceError(
                device,
                f"offline: {self._last_reason.get(key, '?')}; "
                f"retry in {backoff.retry_in(now):.2f} s",
            )
        async with self._lock:
            client = await self._connected(device)
            try:
                # The outer guard catches a transport that hangs without pymodbus noticing.
                result = await asyncio.wait_for(op(client), self.transport.timeout_s * 2)
            except ModbusRequestError as exc:
                backoff.succeeded()  # it answered: alive, just refusing this request
                raise exc from None
            except (TimeoutError, ModbusIOException) as exc:
                reason = f"{what}: timeout, no valid answer within {self.transport.timeout_s} s"
                self._fail(backoff, key, reason)
                raise DeviceError(device, reason) from exc
            except (ConnectionException, OSError) as exc:
                reason = f"{what}: connection lost ({exc})"
                self._drop()
                self._fail(backoff, key, reason)
                raise DeviceError(device, reason) from exc
            except ModbusException as exc:
                reason = f"{what}: {exc}"
                self._fail(backoff, key, reason)
                raise DeviceError(device, reason) from exc
        backoff.succeeded()
        return result

    def _fail(self, backoff: Backoff, key: tuple[int, str], reason: str) -> None:
        backoff.failed(self._clock())
        self._last_reason[key] = reason

    async def close(self) -> None:
        async with self._lock:
            self._drop()
