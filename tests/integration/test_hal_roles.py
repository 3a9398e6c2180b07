"""Contract roles and the connection bound against a real hal process
(docs/hal-contract.md, Roles): one controller whose keep-alive is the one supervised,
observers that read but cannot command, a second controller and one connection over
`hal.max_clients` refused with `too_many_clients`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal import protocol as p
from tests.conftest import WAIT_S, Client, HalProcess, controller, sim_config

OBSERVER = p.ROLE_OBSERVER


@pytest.fixture
def hal3(short_tmp: Path) -> Iterator[HalProcess]:
    """hal with room for three connections."""
    proc = HalProcess(sim_config(short_tmp, max_clients=3))
    try:
        yield proc.start()
    finally:
        if proc.alive():
            proc.stop(signal.SIGKILL)


def _refused(c: Client, code: str) -> p.Error:
    """The error that refuses a connection, then hal closes it."""
    err = c.wait_for(p.Error)
    assert err.code == code, err
    with pytest.raises(ConnectionError):
        while True:
            c.recv()
    return err


def test_welcome_grants_the_role_asked(hal_proc: HalProcess) -> None:
    ctl = Client(hal_proc.socket)
    assert ctl.wait_for(p.Welcome).role == p.ROLE_CONTROLLER
    obs = Client(hal_proc.socket, role=OBSERVER)
    assert obs.wait_for(p.Welcome).role == OBSERVER
    obs.close()
    ctl.close()


def test_second_controller_is_refused_and_the_first_keeps_control(hal_proc: HalProcess) -> None:
    ctl = Client(hal_proc.socket)
    ctl.wait_for(p.Welcome)
    second = Client(hal_proc.socket)
    err = _refused(second, p.E_TOO_MANY_CLIENTS)
    assert "controller is already connected" in err.message
    second.close()
    ctl.send(p.PilotCommand(1, 5.0))  # the first one still commands
    assert ctl.wait_for(p.Ack).ref_type == "pilot"
    ctl.close()
    # Its slot is free once hal has seen it go (asynchronously: `controller` retries).
    again, welcome = controller(hal_proc.socket)
    assert welcome.role == p.ROLE_CONTROLLER
    again.close()


def test_observer_commands_get_not_controller_and_change_nothing(hal_proc: HalProcess) -> None:
    obs = Client(hal_proc.socket, role=OBSERVER)
    obs.wait_for(p.Welcome)
    commands: list[p.Message] = [
        p.PilotCommand(1, 5.0),
        p.AllowPowerOn(1, True, "observer"),
        p.PowerRequest(1, "setpoint", 5000.0, 0.0, 5000.0),
        p.DerDirectives([]),
        p.ConnectorLock(1, False),
    ]
    for cmd in commands:
        obs.send(cmd)
        err = obs.wait_for(p.Error)
        assert (err.code, err.ref_type) == (p.E_NOT_CONTROLLER, cmd.TYPE)
    for _ in range(10):  # nothing was applied: no request, no power
        m = obs.wait_for(p.Measurement)
        assert m.requested_w == 0.0 and m.setpoint_w == 0.0 and not m.contactor_closed
    obs.close()


def test_observer_keepalive_does_not_count_as_evse_alive(hal_proc: HalProcess) -> None:
    """A silent controller loses power although an observer keeps talking."""
    obs = Client(hal_proc.socket, role=OBSERVER, keepalive=True)
    obs.wait_for(p.Welcome)
    ctl = Client(hal_proc.socket)
    ctl.wait_for(p.Welcome)
    ctl.send(p.PilotCommand(1, 5.0))
    ctl.send(p.AllowPowerOn(1, True, "test"))
    ctl.send(p.PowerRequest(1, "setpoint", 6000.0, 0.0, 6000.0))
    obs.wait_for(p.Measurement, pred=lambda m: abs(m.active_w - 6000.0) < 100.0)
    ctl.stop_keepalive()  # evse hangs: connected, silent
    lost = obs.wait_for(p.Event, pred=lambda e: e.kind == "keepalive_lost")
    assert lost.evse_id == 1
    obs.wait_for(p.Measurement, pred=lambda m: abs(m.active_w) < 50.0 and m.setpoint_w == 0.0)
    obs.close()
    ctl.close()


def test_connections_are_bounded(hal3: HalProcess) -> None:
    # (hal may still count the probe connection that found it up: retry until in)
    clients = [controller(hal3.socket, OBSERVER)[0] for _ in range(3)]
    over = Client(hal3.socket, role=OBSERVER)
    assert "at most 3 connections" in _refused(over, p.E_TOO_MANY_CLIENTS).message
    over.close()
    clients.pop().close()
    late, _ = controller(hal3.socket)  # room again once hal has seen one go
    assert hal3.alive()
    late.close()
    for c in clients:
        c.close()


def test_unknown_role_is_refused(hal_proc: HalProcess) -> None:
    c = Client(hal_proc.socket, role="admin")
    err = _refused(c, p.E_INVALID_FIELD)
    assert "hello.role" in err.message and "admin" in err.message
    c.close()


def test_evse_waits_for_the_controller_slot_then_takes_control(short_tmp: Path) -> None:
    """`evse run` refused as a second controller keeps retrying (with back-off) and
    takes control once the slot is free."""
    cfg = sim_config(short_tmp)
    hal = HalProcess(cfg).start()
    holder, _ = controller(hal.socket)
    evse = subprocess.Popen(
        [sys.executable, "-m", "evse.cli", "run", "--config", str(cfg), "--power-w", "5000"],
        stdout=subprocess.DEVNULL,
        stderr=(short_tmp / "evse.log").open("ab"),
    )
    try:
        obs = Client(hal.socket, role=OBSERVER)
        obs.wait_for(p.Welcome)
        # refused while the holder is there: hal logs the refusals
        deadline = time.monotonic() + WAIT_S
        while "controller is already connected" not in hal.log.read_text():
            assert time.monotonic() < deadline, "evse never tried to connect"
            time.sleep(0.05)
        m = obs.wait_for(p.Measurement)
        assert m.requested_w == 0.0
        holder.close()
        obs.wait_for(p.Measurement, pred=lambda m: abs(m.active_w - 5000.0) < 100.0)
        obs.close()
        evse.send_signal(signal.SIGTERM)
        assert evse.wait(WAIT_S) == 0
    finally:
        if evse.poll() is None:
            evse.kill()
        hal.stop(signal.SIGKILL)
