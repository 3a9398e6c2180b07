"""Shared fixtures: station configs written to short temp paths, a real hal process, and
a contract client for tests.

Waits are for conditions, with one generous limit (`WAIT_S`): CI machines are slow and
shared, so a limit says "it never happened", not "it was slow" (timing goes to bench/)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from hal.protocol import (
    E_TOO_MANY_CLIENTS,
    PROTOCOL_VERSION,
    ROLE_CONTROLLER,
    Error,
    FrameDecoder,
    Hello,
    KeepAlive,
    Message,
    Welcome,
    decode_message,
)
from hal.protocol import encode_message as encode

ROOT = Path(__file__).resolve().parents[1]
M = TypeVar("M", bound=Message)
WAIT_S = 30.0  # the limit for every wait on a child process (a condition, never a timing)
KEEPALIVE_S = 0.1  # test clients keep alive like evse (controller.keepalive_interval_s)

SIM_TEMPLATE = """
[logging]
level = "info"

[hal]
socket = "{dir}/hal.sock"
state_dir = "{dir}/state"
period_ms = {period_ms}
keepalive_timeout_s = {keepalive_timeout_s}
ramp_down_s = {ramp_down_s}
report_period_ms = 50
max_clients = {max_clients}

[grid]
nominal_voltage_v = 230.0
nominal_frequency_hz = 50.0

[[evse]]
id = 1
kind = "dc"
max_charge_w = 11000.0
max_discharge_w = 11000.0
max_var = 6000.0
phases = 3

[devices]
mode = "sim"

[sim.grid]
seed = 3
{grid_events}

[sim.power_stage]
time_constant_s = 0.05
rate_limit_w_per_s = 100000.0

[sim.ev]
plug_in_at_s = 0.0

[sim.mcu]
contactor_delay_s = 0.01
keepalive_timeout_s = 2.0

[controller]
keepalive_interval_s = 0.1
request_w = {request_w}
"""


def sim_config(
    directory: Path,
    *,
    period_ms: float = 20,
    keepalive_timeout_s: float = 0.5,
    ramp_down_s: float = 0.5,
    request_w: float = 0.0,
    grid_events: str = "",
    max_clients: int = 8,
) -> Path:
    path = directory / "station.toml"
    path.write_text(
        SIM_TEMPLATE.format(
            dir=directory,
            period_ms=period_ms,
            keepalive_timeout_s=keepalive_timeout_s,
            ramp_down_s=ramp_down_s,
            request_w=request_w,
            grid_events=grid_events,
            max_clients=max_clients,
        )
    )
    return path


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temp folder with a short path (AF_UNIX paths are limited to ~100 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="evse-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


class HalProcess:
    """`evse hal` as a real child process."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.socket = config.parent / "hal.sock"
        self.log = config.parent / "hal.log"
        self._env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = WAIT_S) -> HalProcess:
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        logf = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evse.cli", "hal", "--config", str(self.config)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=self._env,
        )
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hal exited early:\n{self.log.read_text()}")
            if self.socket.exists():
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(str(self.socket))
                    return self
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"hal did not come up:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = WAIT_S) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def hal_proc(short_tmp: Path) -> Iterator[HalProcess]:
    proc = HalProcess(sim_config(short_tmp))
    try:
        yield proc.start()
    finally:
        if proc.alive():
            proc.stop(signal.SIGKILL)


class Client:
    """A blocking contract client for tests: raw frames in, decoded messages out.

    A controller keeps its keep-alive going from a background thread, as evse does, so a
    slow test never races hal's keep-alive timeout; `keepalive=False` is for a test that
    wants silence. Observers need none (hal does not count them)."""

    def __init__(
        self,
        path: Path,
        hello: bool = True,
        role: str = ROLE_CONTROLLER,
        keepalive: bool | None = None,
    ) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(path))
        self.sock.settimeout(WAIT_S)
        self.decoder = FrameDecoder()
        self.buffer: list[Message] = []
        self._send_lock = threading.Lock()
        self._quiet = threading.Event()
        self._keeper: threading.Thread | None = None
        if hello:
            try:
                self.send(Hello(PROTOCOL_VERSION, "test", role))
            except (BrokenPipeError, ConnectionResetError):
                # hal refused the connection at once (too many clients) and closed it
                # before our hello: its error frame is still there to read.
                return
        if keepalive if keepalive is not None else (hello and role == ROLE_CONTROLLER):
            self._keeper = threading.Thread(target=self._keep_alive, daemon=True)
            self._keeper.start()

    def _keep_alive(self) -> None:
        seq = 0
        while not self._quiet.wait(KEEPALIVE_S):
            seq += 1
            try:
                self.send(KeepAlive(seq))
            except OSError:
                return  # hal closed the connection: nothing left to keep alive

    def stop_keepalive(self) -> None:
        """Fall silent (as a hung evse would), the connection stays open."""
        self._quiet.set()
        if self._keeper is not None:
            self._keeper.join(WAIT_S)

    def send(self, msg: Message) -> None:
        self.send_bytes(encode(msg))

    def send_bytes(self, data: bytes) -> None:
        with self._send_lock:  # the keep-alive thread must not cut into a frame
            self.sock.sendall(data)

    def recv(self, timeout: float = WAIT_S) -> Message:
        deadline = time.monotonic() + timeout
        while not self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from hal")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("hal closed the connection")
            self.buffer.extend(decode_message(p) for p in self.decoder.feed(data))
        return self.buffer.pop(0)

    def wait_for(
        self,
        cls: type[M],
        timeout: float = WAIT_S,
        pred: Callable[[M], bool] | None = None,
    ) -> M:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if isinstance(msg, cls) and (pred is None or pred(msg)):
                return msg

    def close(self) -> None:
        self.stop_keepalive()
        self.sock.close()


def controller(path: Path, role: str = ROLE_CONTROLLER) -> tuple[Client, Welcome]:
    """Connect (as the controller by default), retrying while hal still holds the slot
    of a client that just left (it notices a closed socket asynchronously): the
    controller slot, or a place under `hal.max_clients`."""
    deadline = time.monotonic() + WAIT_S
    while True:
        c = Client(path, role=role)
        first = c.wait_for(Message, pred=lambda m: isinstance(m, Welcome | Error))
        if isinstance(first, Welcome):
            return c, first
        c.close()
        if first.code != E_TOO_MANY_CLIENTS or time.monotonic() > deadline:
            raise AssertionError(f"not admitted as controller: {first}")
        time.sleep(0.05)


@pytest.fixture
def client_factory() -> Iterator[type[Client]]:
    yield Client
