"""The MCU driver: the `Mcu` interface over a serial port (pyserial), using McuLinkCore.

I/O only: bytes from the port go into the core, events come out; commands wait for the
MCU's ACK up to `command_timeout_s`. Every failure is a `DeviceError(name, reason)`. A port
that fails to open (USB adapter unplugged) is retried with backoff; a silent MCU is
detected by the core's link supervision and greeted again (HELLO) when it speaks again,
because an MCU that was reset has forgotten its keep-alive settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial

from hal.devices.backoff import Backoff
from hal.devices.base import CpState, DeviceError, GridSample, McuState
from hal.devices.mcu_link import messages as m
from hal.devices.mcu_link.link import McuLinkCore


@dataclass(frozen=True, slots=True)
class McuLinkSettings:
    port: str
    baudrate: int = 115200
    keepalive_interval_s: float = 0.1  # hal -> MCU keep-alive period
    mcu_keepalive_timeout_s: float = 1.0  # MCU opens the contactors after this silence
    status_period_s: float = 0.02  # MCU -> hal status (and keep-alive) period
    link_timeout_s: float = 0.5  # hal declares the MCU lost after this silence
    command_timeout_s: float = 0.2


def status_to_state(body: dict[str, Any], t: float) -> McuState:
    volts = tuple(v / 100.0 for v in body["v"])
    grid = GridSample(t, volts, body["f"] / 1000.0) if volts else None
    pp = body["pp"]
    return McuState(
        cp_state=CpState(body["cp"]),
        pwm_duty_pct=body["duty"] / 100.0,
        pp_ampacity_a=float(pp) if pp is not None else None,
        contactor_closed=body["ct"],
        rcd_tripped=body["rcd"],
        errors=frozenset(body["err"]),
        grid=grid,
    )


class SerialMcu:
    def __init__(
        self, name: str, settings: McuLinkSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.settings = settings
        self._clock = clock
        self._core = McuLinkCore(settings.keepalive_interval_s, settings.link_timeout_s, clock())
        self._port: serial.Serial | None = None
        self._backoff = Backoff(0.05, 2.0, 1.0)  # HELLO is a few bytes: retry often
        self._last_reason = "not opened"
        self._waiters: dict[int, asyncio.Future[m.Message]] = {}  # seq -> ACK / reply
        self._hello_done: asyncio.Future[None] | None = None
        self._status: m.Message | None = None
        self._status_t = 0.0
        self._greeted = False
        self.hello_reply: dict[str, Any] | None = None

    # -- port handling ------------------------------------------------------------------
    async def open(self) -> None:
        """Open the port and greet the MCU, waiting for its answer (the hardware handshake
        before READY=1); raises DeviceError if it does not answer in time."""
        self._ensure_port()
        if self._greeted:
            return
        loop = asyncio.get_running_loop()
        self._hello_done = loop.create_future()
        self._send_hello(self._clock())
        try:
            await asyncio.wait_for(
                asyncio.shield(self._hello_done), self.settings.command_timeout_s
            )
        except TimeoutError:
            self._last_reason = f"no answer to hello within {self.settings.command_timeout_s} s"
            raise DeviceError(self.name, self._last_reason) from None
        finally:
            self._hello_done = None
        await self.request_state()  # the first status: the loop starts from a known state

    def _ensure_port(self) -> None:
        if self._port is not None:
            return
        now = self._clock()
        if not self._backoff.due(now):
            raise DeviceError(
                self.name,
                f"offline: {self._last_reason}; retry in {self._backoff.retry_in(now):.2f} s",
            )
        try:
            # timeout=0 / write_timeout=0: never block the event loop on the port.
            port = serial.Serial(
                self.settings.port, self.settings.baudrate, timeout=0, write_timeout=0
            )
        except (serial.SerialException, OSError) as exc:
            self._backoff.failed(now)
            self._last_reason = f"cannot open {self.settings.port}: {exc}"
            raise DeviceError(self.name, self._last_reason) from exc
        self._port = port
        self._core.reset(now)
        self._greeted = False
        asyncio.get_running_loop().add_reader(port.fileno(), self._on_readable)

    def _drop_port(self, reason: str) -> None:
        port, self._port = self._port, None
        self._greeted = False
        self._last_reason = reason
        if port is not None:
            asyncio.get_running_loop().remove_reader(port.fileno())
            port.close()
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(DeviceError(self.name, reason))
        self._waiters.clear()

    def _on_readable(self) -> None:
        port = self._port
        if port is None:
            return
        try:
            data = port.read(4096)
        except (serial.SerialException, OSError) as exc:
            self._backoff.failed(self._clock())
            self._drop_port(f"read failed: {exc}")
            return
        now = self._clock()
        for ev in self._core.receive(data, now):
            if isinstance(ev, m.Message):
                self._dispatch(ev, now)

    def _dispatch(self, msg: m.Message, now: float) -> None:
        if msg.kind == m.STATUS:
            prev = self._status
            if prev is not None and msg.body["up"] < prev.body["up"] and self._greeted:
                # The MCU restarted: it forgot our settings and opened its contactors.
                # Greet it again, and fail until then so the loop re-sends its wishes.
                self._greeted = False
                self._last_reason = (
                    f"MCU restarted (uptime {prev.body['up']} ms -> {msg.body['up']} ms)"
                )
            self._status, self._status_t = msg, now
            waiter = self._waiters.pop(msg.body.get("re", -1), None)
        elif msg.kind == m.ACK:
            waiter = self._waiters.pop(msg.body["re"], None)
        elif msg.kind == m.HELLO_REPLY:
            self._on_hello_reply(msg)
            return
        else:
            return  # a frame meant for the MCU (echo) or unknown: ignore, it is not an error
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)

    def _on_hello_reply(self, msg: m.Message) -> None:
        if msg.body["proto"] != m.PROTOCOL_VERSION:
            self._last_reason = (
                f"MCU speaks protocol {msg.body['proto']}, we speak {m.PROTOCOL_VERSION}"
            )
            return
        self.hello_reply = dict(msg.body)
        self._greeted = True
        self._backoff.succeeded()
        if self._hello_done is not None and not self._hello_done.done():
            self._hello_done.set_result(None)

    def _write(self, frame: bytes) -> None:
        assert self._port is not None
        try:
            n = self._port.write(frame)
        except (serial.SerialException, OSError) as exc:
            self._backoff.failed(self._clock())
            self._drop_port(f"write failed: {exc}")
            raise DeviceError(self.name, self._last_reason) from exc
        if n is not None and n < len(frame):
            # The kernel's transmit buffer is full: the line is stalled. The cut frame is
            # discarded by the MCU at our next 0x00.
            raise DeviceError(self.name, f"transmit buffer full ({n} of {len(frame)} bytes)")

    def _send_hello(self, now: float) -> None:
        s = self.settings
        _, frame = self._core.command(
            m.HELLO,
            {
                "proto": m.PROTOCOL_VERSION,
                "ka_ms": round(s.mcu_keepalive_timeout_s * 1000),
                "st_ms": round(s.status_period_s * 1000),
            },
            now,
        )
        # Counted as failed until the reply arrives: the next HELLO waits for the backoff.
        self._backoff.failed(now)
        self._write(frame)

    def _ready(self) -> None:
        """Fail fast unless the port is open, the MCU greeted and its frames arriving.
        Never waits: a HELLO goes out (on the backoff schedule) and its reply is handled
        when it comes, so a lost MCU cannot stall the control loop."""
        self._ensure_port()
        now = self._clock()
        if self._greeted and not self._core.link_up(now):
            # Silent for too long: greet again when it answers, it may have reset.
            self._greeted = False
            self._last_reason = self._core.down_reason(now)
        if not self._greeted:
            if self._backoff.due(now):
                self._send_hello(now)
            raise DeviceError(self.name, f"link down: {self._last_reason}")

    async def _request(self, kind: int, body: dict[str, Any]) -> m.Message:
        self._ready()
        seq, frame = self._core.command(kind, body, self._clock())
        fut: asyncio.Future[m.Message] = asyncio.get_running_loop().create_future()
        self._waiters[seq] = fut
        self._write(frame)
        try:
            return await asyncio.wait_for(fut, self.settings.command_timeout_s)
        except TimeoutError:
            self._waiters.pop(seq, None)
            raise DeviceError(
                self.name,
                f"timeout: no answer to {m.NAMES[kind]} within "
                f"{self.settings.command_timeout_s} s; {self._core.down_reason(self._clock())}",
            ) from None

    async def _command(self, kind: int, body: dict[str, Any]) -> None:
        reply = await self._request(kind, body)
        if reply.kind == m.ACK and not reply.body["ok"]:
            why = reply.body.get("why", "")
            raise DeviceError(self.name, f"{m.NAMES[kind]} refused: {why}")

    # -- the Mcu interface ---------------------------------------------------------------
    async def read_state(self) -> McuState:
        """The latest status the MCU pushed (it sends one every status period)."""
        self._ready()
        age = self._clock() - self._status_t
        if self._status is None or age > self.settings.link_timeout_s:
            raise DeviceError(
                self.name,
                "no status received yet"
                if self._status is None
                else f"status is {age:.2f} s old (only other frames arrive)",
            )
        return status_to_state(self._status.body, self._status_t)

    async def request_state(self) -> McuState:
        """Ask for a fresh status and wait for it (one round trip)."""
        reply = await self._request(m.GET_STATUS, {})
        return status_to_state(reply.body, self._status_t)

    async def set_pwm(self, duty_pct: float) -> None:
        await self._command(m.SET_PWM, {"duty": round(min(max(duty_pct, 0.0), 100.0) * 100)})

    async def set_contactor(self, closed: bool, reason: str) -> None:
        await self._command(m.ALLOW_POWER, {"on": closed, "why": reason[:64]})

    async def set_lock(self, locked: bool) -> None:
        await self._command(m.SET_LOCK, {"lock": locked})

    async def rcd_command(self, cmd: str) -> None:
        await self._command(m.RCD_COMMAND, {"cmd": cmd})

    async def set_trip(
        self, oc_a: float, v_min: float, v_max: float, f_min: float, f_max: float, t_ms: int
    ) -> None:
        await self._command(
            m.TRIP_SETTINGS,
            {
                "oc_a": oc_a,
                "v_min": v_min,
                "v_max": v_max,
                "f_min": f_min,
                "f_max": f_max,
                "t_ms": t_ms,
            },
        )

    async def keepalive(self) -> None:
        """Send a keep-alive if one is due. Called from the control loop on purpose: if the
        loop hangs, keep-alives stop and the MCU opens the contactors by itself."""
        self._ensure_port()
        frame = self._core.keepalive(self._clock())
        if frame is not None:
            self._write(frame)

    @property
    def line_errors(self) -> dict[str, int]:
        return dict(self._core.errors)

    async def close(self) -> None:
        if self._port is not None and self._greeted and self._core.link_up(self._clock()):
            # Open the contactors on the way out and wait for the MCU to confirm. If it
            # does not answer, its own keep-alive timeout opens them shortly after.
            with contextlib.suppress(DeviceError):
                await self._command(m.ALLOW_POWER, {"on": False, "why": "hal stopping"})
        if self._port is not None:
            self._drop_port("closed")
