"""The simulated MCU speaking the serial protocol (docs/mcu-protocol.md) on a pty.

Commands drive the `SimMcu` of one EVSE in the shared `SimWorld`; a status frame (the
MCU's keep-alive and fast grid measurement) goes out every status period. Like the
firmware, it opens the contactor by itself when hal's keep-alive stops (SimMcu does
that from `last_keepalive`). `faults` makes it garble, corrupt CRCs, split or vanish.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

import cbor2

from hal.devices.mcu_link import cobs
from hal.devices.mcu_link import messages as m
from hal.devices.mcu_link.frame import FrameDecoder, encode_frame
from hal.sim.transports.faults import LineFaults
from hal.sim.transports.pty_pair import PtyPair
from hal.sim.world import SimWorld

FIRMWARE = "sim-mcu 1.0"


class SimMcuServer:
    def __init__(
        self,
        world: SimWorld,
        evse_id: int,
        clock: Callable[[], float] = time.monotonic,
        baud: int | None = None,
    ) -> None:
        """`baud`: emulate the UART's pace both ways (benchmarks; a pty has none)."""
        self._world = world
        self._ev = world.evses[evse_id]
        self._clock = clock
        self._baud = baud
        self._rx_free_at = 0.0
        self._rx_timers: set[asyncio.TimerHandle] = set()
        self._pty = PtyPair(baud)
        self.path = self._pty.path
        self._decoder = FrameDecoder()
        self._seq = 0
        self._start = clock()
        self.status_period_s = 0.02
        self.faults = LineFaults()
        self.locked = False
        self.trip: dict[str, Any] = {}
        self.received: list[m.Message] = []  # commands seen (tests inspect; bounded below)
        self.frame_errors = 0
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._write_lock = asyncio.Lock()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self._pty.master, self._on_readable)
        self._task = loop.create_task(self._status_loop(), name=f"sim-mcu {self.path}")

    async def stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self._pty.master)
        for h in self._rx_timers:
            h.cancel()
        tasks = [t for t in (self._task, *self._writes) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._pty.close()

    def restart(self) -> None:
        """The MCU reboots: uptime from zero, contactor open, X1, lock released, default
        keep-alive settings until hal greets it again."""
        now = self._clock()
        mcu = self._ev.mcu
        self._start = now
        self.locked = False
        self.trip = {}
        self.status_period_s = 0.02
        mcu.model = dataclasses.replace(mcu.model, keepalive_timeout_s=1.0)
        mcu.request_contactor(False, now)
        mcu.set_pwm(100.0, now)

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.status_period_s)
            if len(self._writes) > 2:
                continue  # a slow line: periodic status is skipped, replies are not
            self._send(m.STATUS, self._status_body())

    def _status_body(self) -> dict[str, Any]:
        now = self._clock()
        self._world.advance(now)
        s = self._ev.mcu.state()
        grid = s.grid
        return {
            "cp": s.cp_state.value,
            "duty": round(s.pwm_duty_pct * 100),
            "pp": s.pp_ampacity_a,
            "ct": s.contactor_closed,
            "lock": self.locked,
            "rcd": s.rcd_tripped,
            "err": sorted(s.errors),
            "v": [round(v * 100) for v in grid.voltage_v] if grid else [],
            "f": round(grid.frequency_hz * 1000) if grid else 0,
            "up": round((now - self._start) * 1000),
        }

    def _send(self, kind: int, body: dict[str, Any]) -> None:
        if self.faults.silent:
            return
        self._seq = (self._seq + 1) & 0xFFFF
        frame = encode_frame(kind, self._seq, body)
        if self.faults.corrupt_crc > 0:
            self.faults.corrupt_crc -= 1
            frame = _corrupt(kind, self._seq, body)
        if self.faults.garbage:
            frame = self.faults.garbage + frame
            self.faults.garbage = b""
        if self.faults.split or self.faults.delay_s > 0.0:
            task = asyncio.get_running_loop().create_task(self._slow_write(frame))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
        else:
            self._pty.write(frame)

    async def _slow_write(self, frame: bytes) -> None:
        if self.faults.delay_s > 0.0:
            await asyncio.sleep(self.faults.delay_s)
        async with self._write_lock:  # one frame at a time, like one UART
            step = 5 if self.faults.split else len(frame)
            for i in range(0, len(frame), step):
                self._pty.write(frame[i : i + step])
                if self.faults.split:
                    await asyncio.sleep(0.0005)

    def _on_readable(self) -> None:
        data = self._pty.read()
        if self.faults.silent or not data:
            return
        if self._baud is not None:
            # The bytes hal wrote arrive at the UART's pace.
            loop = asyncio.get_running_loop()
            self._rx_free_at = max(loop.time(), self._rx_free_at) + len(data) * 10 / self._baud
            handle = loop.call_at(self._rx_free_at, self._receive, data)
            self._rx_timers.add(handle)
            return
        self._receive(data)

    def _receive(self, data: bytes) -> None:
        if self._rx_timers:
            t = asyncio.get_running_loop().time()
            self._rx_timers = {h for h in self._rx_timers if h.when() > t}
        now = self._clock()
        for ev in self._decoder.feed(data):
            if isinstance(ev, m.Message):
                self._ev.mcu.keepalive(now)  # any valid frame from hal proves it is alive
                self._handle(ev, now)
            else:
                self.frame_errors += 1

    def _handle(self, msg: m.Message, now: float) -> None:
        if len(self.received) < 10000:
            self.received.append(msg)
        mcu = self._ev.mcu
        b = msg.body
        if msg.kind == m.HELLO:
            mcu.model = dataclasses.replace(mcu.model, keepalive_timeout_s=b["ka_ms"] / 1000.0)
            self.status_period_s = max(0.005, b["st_ms"] / 1000.0)
            self._send(
                m.HELLO_REPLY,
                {"proto": m.PROTOCOL_VERSION, "fw": FIRMWARE, "phases": self._ev.unit.phases},
            )
            return
        if msg.kind == m.KEEPALIVE:
            return
        if msg.kind == m.GET_STATUS:
            self._send(m.STATUS, {**self._status_body(), "re": msg.seq})
            return
        ok, why = True, ""
        if msg.kind == m.SET_PWM:
            mcu.set_pwm(b["duty"] / 100.0, now)
        elif msg.kind == m.ALLOW_POWER:
            if b["on"] and (mcu.errors or mcu.rcd_tripped):
                ok, why = False, "refused: " + (",".join(sorted(mcu.errors)) or "rcd tripped")
            mcu.request_contactor(b["on"] and ok, now)
        elif msg.kind == m.SET_LOCK:
            self.locked = b["lock"]
        elif msg.kind == m.TRIP_SETTINGS:
            self.trip = dict(b)
        elif msg.kind == m.RCD_COMMAND:
            mcu.rcd_tripped = b["cmd"] == "selftest"  # self-test trips; reset clears
        else:
            ok, why = False, f"{msg.name} is not a command for the MCU"
        self._send(m.ACK, {"re": msg.seq, "ok": ok, **({"why": why} if why else {})})


def _corrupt(kind: int, seq: int, body: dict[str, Any]) -> bytes:
    """The same frame with a wrong CRC (still valid COBS), as a noisy line would make."""
    payload = cbor2.dumps([kind, seq, body])
    crc = struct.pack("<I", zlib.crc32(payload) ^ 0xA5A5A5A5)
    return cobs.encode(payload + crc) + b"\x00"
