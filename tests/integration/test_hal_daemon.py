"""The hal daemon as a real process: contract, power following, keep-alive supervision,
bad input, directive persistence across kill -9, sd_notify and SIGTERM."""

from __future__ import annotations

import signal
import socket
import struct
from pathlib import Path

from hal import protocol as p
from tests.conftest import WAIT_S, Client, HalProcess, controller, sim_config

OBSERVER = p.ROLE_OBSERVER


def _power_on(c: Client, watts: float) -> None:
    c.send(p.PilotCommand(1, 5.0))
    c.send(p.AllowPowerOn(1, True, "test"))
    c.send(p.PowerRequest(1, "setpoint", watts, min(watts, 0.0), max(watts, 0.0)))


def _wait_power(c: Client, target: float, tol: float = 100.0) -> p.Measurement:
    return c.wait_for(p.Measurement, WAIT_S, lambda m: abs(m.active_w - target) < tol)


def test_handshake_reports_capabilities_and_constraint(hal_proc: HalProcess) -> None:
    c = Client(hal_proc.socket)
    w = c.wait_for(p.Welcome)
    assert w.version == p.PROTOCOL_VERSION
    assert w.evses[0]["evse_id"] == 1 and w.evses[0]["max_discharge_w"] == 11000.0
    gc = c.wait_for(p.GridConstraintReport)
    assert (gc.state, gc.p_min_w, gc.p_max_w) == ("normal", -11000.0, 11000.0)
    c.close()


def test_charge_then_discharge_stage_follows(hal_proc: HalProcess) -> None:
    c = Client(hal_proc.socket)
    c.wait_for(p.Welcome)
    _power_on(c, 7000.0)
    m = _wait_power(c, 7000.0)
    assert m.contactor_closed and m.cp_state == "C" and m.setpoint_w == 7000.0
    c.send(p.PowerRequest(1, "setpoint", -5000.0, -5000.0, 0.0))
    m = _wait_power(c, -5000.0)
    assert m.setpoint_w == -5000.0
    # Energy flowed both ways: the meter counted import, then export.
    m = c.wait_for(p.Measurement, pred=lambda m: m.export_wh > 0.0)
    assert m.import_wh > 0.0
    c.close()


def test_keepalive_loss_ramps_to_zero_and_holds_until_asked_again(short_tmp: Path) -> None:
    # ramp_down_s long enough that reports catch the ramp however loaded the machine is
    hal = HalProcess(sim_config(short_tmp, ramp_down_s=2.0)).start()
    try:
        observer = Client(hal.socket, role=OBSERVER)  # listens; never counts as evse
        observer.wait_for(p.Welcome)
        ctl = Client(hal.socket)
        ctl.wait_for(p.Welcome)
        _power_on(ctl, 10000.0)
        _wait_power(observer, 10000.0)
        ctl.stop_keepalive()  # evse falls silent
        lost = observer.wait_for(p.Event, pred=lambda e: e.kind == "keepalive_lost")
        assert lost.evse_id == 1
        seen: list[float] = []
        while not seen or abs(seen[-1]) >= 50.0:
            seen.append(observer.wait_for(p.Measurement).active_w)
        assert any(1000.0 < w < 9000.0 for w in seen), ("a ramp, not a step", seen)
        ctl.close()
        # evse comes back but only keeps alive: power stays at zero
        back, _ = controller(hal.socket)
        for _ in range(20):  # a second of reports (report_period_ms = 50)
            m = observer.wait_for(p.Measurement)
            assert abs(m.active_w) < 50.0 and m.setpoint_w == 0.0
        # ... until it asks again
        _power_on(back, 4000.0)
        _wait_power(observer, 4000.0)
        back.close()
        observer.close()
    finally:
        hal.stop(signal.SIGKILL)


def test_bad_input_gets_errors_and_the_daemon_keeps_serving(hal_proc: HalProcess) -> None:
    c = Client(hal_proc.socket, hello=False)
    c.send(p.KeepAlive(1))  # before hello
    assert c.wait_for(p.Error).code == p.E_HANDSHAKE
    c.send(p.Hello(p.PROTOCOL_VERSION, "test"))
    c.wait_for(p.Welcome)
    c.send_bytes(struct.pack(">I", 5) + b"\xff\xfe\x00ab")  # framed garbage
    assert c.wait_for(p.Error).code == p.E_MALFORMED
    c.send_bytes(p.encode_raw({"type": "self_destruct"}))
    assert c.wait_for(p.Error).code == p.E_UNKNOWN_TYPE
    c.send_bytes(p.encode_raw({"type": "pilot", "evse_id": 1, "duty_pct": "lots"}))
    assert c.wait_for(p.Error).code == p.E_INVALID_FIELD
    c.send(p.PowerRequest(9, "setpoint", 1.0, 0.0, 1.0))
    assert c.wait_for(p.Error).code == p.E_UNKNOWN_EVSE
    c.send(p.Measurement(1, [], 50.0, 0, 0, 0, 0, 0, 0, "A", False))  # wrong direction
    assert c.wait_for(p.Error).code == p.E_REJECTED
    # the same connection still works
    c.send(p.PilotCommand(1, 5.0))
    assert c.wait_for(p.Ack).ref_type == "pilot"
    # a frame cut short by the client closing
    t = Client(hal_proc.socket, role=OBSERVER)
    t.wait_for(p.Welcome)
    t.send_bytes(p.encode_message(p.KeepAlive(7))[:6])
    t.close()
    # an oversized length prefix: error, that connection ends, the server stays
    o = Client(hal_proc.socket, role=OBSERVER)
    o.wait_for(p.Welcome)
    o.send_bytes(struct.pack(">I", 0xFFFFFFF0) + b"\x00" * 16)
    assert o.wait_for(p.Error).code == p.E_FRAME_TOO_LARGE
    o.close()
    # wrong protocol version: refused, closed
    v = Client(hal_proc.socket, hello=False)
    v.send(p.Hello(p.PROTOCOL_VERSION + 1, "future"))
    assert v.wait_for(p.Error).code == p.E_VERSION
    v.close()
    assert hal_proc.alive()
    fresh = Client(hal_proc.socket, role=OBSERVER)
    assert fresh.wait_for(p.Welcome).version == p.PROTOCOL_VERSION
    c.send(p.PilotCommand(1, 5.0))
    assert c.wait_for(p.Ack).ref_type == "pilot"
    fresh.close()
    c.close()


DIRECTIVES = [
    {
        "id": "droop-1",
        "controlType": "FreqDroop",
        "isDefault": True,
        "priority": 0,
        "freqDroop": {
            "priority": 0,
            "overFreq": 50.2,
            "underFreq": 49.8,
            "overDroop": 0.05,
            "underDroop": 0.05,
            "responseTime": 5.0,
        },
    },
    {
        "id": "lmd-1",
        "controlType": "LimitMaxDischarge",
        "isDefault": True,
        "priority": 1,
        "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50.0},
    },
]


def test_directives_persist_across_kill_9(short_tmp: Path) -> None:
    hal = HalProcess(sim_config(short_tmp)).start()
    try:
        c = Client(hal.socket)
        w = c.wait_for(p.Welcome)
        assert w.directive_ids == []
        c.send(p.DerDirectives(DIRECTIVES))
        res = c.wait_for(p.DirectiveResult)
        assert res.accepted == ["droop-1", "lmd-1"] and res.rejected == []
        c.close()
        assert hal.stop(signal.SIGKILL) == -signal.SIGKILL
        hal.start()
        c = Client(hal.socket)
        assert c.wait_for(p.Welcome).directive_ids == ["droop-1", "lmd-1"]
        # a rejected directive is not persisted
        c.send(p.DerDirectives([{"id": "x"}]))
        res = c.wait_for(p.DirectiveResult)
        assert res.accepted == [] and res.rejected[0]["id"] == "x"
        c.close()
        hal.stop(signal.SIGKILL)
        hal.start()
        c = Client(hal.socket)
        assert c.wait_for(p.Welcome).directive_ids == []
        c.close()
    finally:
        if hal.alive():
            hal.stop(signal.SIGKILL)


def test_sd_notify_ready_watchdog_stopping_in_order(short_tmp: Path) -> None:
    notify = short_tmp / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(str(notify))
        srv.settimeout(WAIT_S)
        hal = HalProcess(
            sim_config(short_tmp), {"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "200000"}
        )
        hal.start()
        got: list[str] = []
        try:
            while sum(s == "WATCHDOG=1" for s in got) < 3:
                got.append(srv.recv(4096).decode().split("\n")[0])
            client = Client(hal.socket)  # a client still connected at SIGTERM
            client.wait_for(p.Welcome)
            assert hal.stop(signal.SIGTERM) == 0
            client.close()
            while "STOPPING=1" not in got:
                got.append(srv.recv(4096).decode().split("\n")[0])
        finally:
            if hal.alive():
                hal.stop(signal.SIGKILL)
    assert got[0] == "READY=1"
    assert got[-1] == "STOPPING=1"
    assert set(got[1:-1]) == {"WATCHDOG=1"}
    log = hal.log.read_text()
    assert "power at zero, contactors open" in log
    assert "Traceback" not in log  # connections end cleanly, no cancelled-task noise


def test_directive_keyed_by_control_id_is_reported_by_that_id(hal_proc: HalProcess) -> None:
    """evse may pass a CSMS control keyed `controlId`: accepted, persisted, reported under it."""
    d = {k: v for k, v in DIRECTIVES[1].items() if k != "id"} | {"controlId": "ctl-7"}
    c = Client(hal_proc.socket)
    c.wait_for(p.Welcome)
    c.send(p.DerDirectives([d]))
    res = c.wait_for(p.DirectiveResult)
    assert res.accepted == ["ctl-7"] and res.rejected == []
    c.close()
    again = Client(hal_proc.socket, role=OBSERVER)
    assert again.wait_for(p.Welcome).directive_ids == ["ctl-7"]
    again.close()
