"""The station's two processes as children (hal and `evse run`), each killable with -9
and started again as systemd would, and a read-only observer on hal's socket that puts
hal's measurements and events into the trace."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path

from evse.sim.scenario.trace import Trace
from hal import protocol as p

WAIT_S = 30.0  # for a child to come up (slow, shared machines)


class Child:
    """One child process (`evse hal` or `evse run`) with its log in the run directory."""

    def __init__(self, name: str, args: list[str], log: Path, trace: Trace) -> None:
        self.name = name
        self.args = args
        self.log = log
        self.trace = trace
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        with self.log.open("ab") as logf:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "evse.cli", *self.args,
                stdout=logf, stderr=asyncio.subprocess.STDOUT, env=dict(os.environ),
            )
        self.starts += 1
        self.trace.add("process", target=self.name, event="started", pid=self.proc.pid)

    async def kill9(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
            self.trace.add("process", target=self.name, event="killed", signal="SIGKILL")

    async def stop(self) -> int | None:
        """SIGTERM (the safe stop), SIGKILL if it does not end in time."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), WAIT_S)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode


async def wait_for_socket(path: Path, hal: Child) -> None:
    async with asyncio.timeout(WAIT_S):
        while True:
            if not hal.alive:
                raise RuntimeError(f"hal exited early; see {hal.log}")
            try:
                _, writer = await asyncio.open_unix_connection(str(path))
                writer.close()
                return
            except OSError:
                pass  # not listening yet
            await asyncio.sleep(0.05)


class HalObserver:
    """An observer hello on hal's socket (hal never counts it as the controller's
    keep-alive); reconnects while hal restarts. Keeps the latest measurement and
    constraint per EVSE for the status line."""

    def __init__(self, socket_path: Path, trace: Trace, sample_every_s: float = 0.2) -> None:
        self.path = socket_path
        self.trace = trace
        self.every = sample_every_s  # measurements come every 100 ms: trace fewer
        self.last: dict[int, p.Measurement] = {}
        self.constraint: dict[int, p.GridConstraintReport] = {}
        self._traced_at = 0.0
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, EOFError, p.ProtocolError):
                await self._session(stop)
            if self.connected.is_set():
                self.trace.add("hal", type="link", up=False)  # hal went away
            self.connected.clear()
            self.last.clear()  # no stale values in the status line while hal is away
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    async def _session(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_unix_connection(str(self.path))
        try:
            writer.write(p.encode_message(p.Hello(p.PROTOCOL_VERSION, "evse-sim", p.ROLE_OBSERVER)))
            await writer.drain()
            decoder = p.FrameDecoder()
            while not stop.is_set():
                data = await reader.read(65536)
                if not data:
                    raise EOFError
                for payload in decoder.feed(data):
                    self._on(p.decode_message(payload))
        finally:
            writer.close()

    def _on(self, msg: p.Message) -> None:
        if isinstance(msg, p.Welcome):
            self.connected.set()
            self.trace.add("hal", type="welcome", state=msg.state)
        elif isinstance(msg, p.Measurement):
            self.last[msg.evse_id] = msg
            now = self.trace.timeline.now()
            if now - self._traced_at >= self.every * self.trace.timeline.speed:
                self._traced_at = now
                self.trace.add("hal", type="measurement", **asdict(msg))
        elif isinstance(msg, p.GridConstraintReport):
            old = self.constraint.get(msg.evse_id)
            self.constraint[msg.evse_id] = msg
            if old is None or (old.state, old.p_min_w, old.p_max_w) != (
                msg.state, msg.p_min_w, msg.p_max_w
            ):
                self.trace.add("hal", type="constraint", **asdict(msg))
        elif isinstance(msg, p.Event):
            self.trace.add("hal", type="event", evse_id=msg.evse_id, kind=msg.kind, data=msg.data)
        elif isinstance(msg, p.GridMeterReport | p.DcReport):
            pass  # every report repeats the latest state (the -20 trace has the DC side)
        else:
            self.trace.add("hal", type=msg.TYPE)
