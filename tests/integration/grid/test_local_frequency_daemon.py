"""LocalFrequency (OCPP 2.1 Q08) through the real hal daemon and its simulated grid: after
evse asked for it and went away, the power follows the grid's frequency steps (Q11:
frequency support keeps running while evse is down, within local_frequency_hold_s)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal import protocol as p
from tests.conftest import Client, HalProcess, sim_config

CURVE = [
    {"frequency": 49.8, "power": 4000.0},
    {"frequency": 50.0, "power": 0.0},
    {"frequency": 50.2, "power": -4000.0},
]
# The steps come late enough that evse has asked and gone before them (the test checks).
STEPS = (
    '[[sim.grid.events]]\nkind = "step"\nat_s = 10.0\nfrequency_hz = 49.9\n'
    '[[sim.grid.events]]\nkind = "step"\nat_s = 13.0\nfrequency_hz = 50.1\n'
)


@pytest.fixture
def hal(short_tmp: Path) -> Iterator[HalProcess]:
    cfg = sim_config(short_tmp, keepalive_timeout_s=0.5, grid_events=STEPS)
    text = cfg.read_text()
    cfg.write_text(text.replace("[hal]\n", "[hal]\nlocal_frequency_hold_s = 600.0\n", 1))
    proc = HalProcess(cfg).start()
    yield proc
    if proc.alive():
        proc.stop(signal.SIGKILL)


def near(w: float, want: float) -> bool:
    return abs(w - want) < 100.0


def test_q08_local_frequency_follows_grid_steps_while_evse_is_gone(hal: HalProcess) -> None:
    watch = Client(hal.socket, role=p.ROLE_OBSERVER)
    watch.wait_for(p.Welcome)
    evse = Client(hal.socket)
    evse.wait_for(p.Welcome)
    evse.send(p.PilotCommand(1, 5.0))
    evse.send(p.AllowPowerOn(1, True, "test"))
    evse.send(
        p.PowerRequest(
            1,
            "setpoint",
            1000.0,
            -8000.0,
            8000.0,
            operation_mode="LocalFrequency",
            baseline_w=1000.0,
            freq_watt=CURVE,
        )
    )
    evse.wait_for(p.Ack, pred=lambda a: a.ref_type == "power_request")
    watch.wait_for(p.Measurement, pred=lambda m: near(m.active_w, 1000.0))
    evse.close()  # evse is gone: no keep-alive, no connection
    watch.wait_for(p.Event, pred=lambda e: e.kind == "keepalive_lost")
    m = watch.wait_for(p.Measurement)
    assert m.frequency_hz == pytest.approx(50.0), "the steps came before evse left"
    assert near(m.active_w, 1000.0)  # still at the baseline, not ramped down
    # 49.9 Hz: 1000 + 2000 W; 50.1 Hz: 1000 - 2000 W, with no evse connected
    m = watch.wait_for(
        p.Measurement, pred=lambda m: m.frequency_hz < 49.95 and near(m.active_w, 3000.0)
    )
    assert m.contactor_closed
    m = watch.wait_for(
        p.Measurement, pred=lambda m: m.frequency_hz > 50.05 and near(m.active_w, -1000.0)
    )
    assert m.contactor_closed and m.setpoint_w == pytest.approx(-1000.0, abs=1.0)
    watch.close()


def test_a_bad_curve_is_refused_and_changes_nothing(hal: HalProcess) -> None:
    evse = Client(hal.socket)
    evse.wait_for(p.Welcome)
    bad = p.PowerRequest(
        1, "setpoint", 0.0, 0.0, 0.0, operation_mode="LocalFrequency", freq_watt=CURVE[:1]
    )
    evse.send(bad)
    err = evse.wait_for(p.Error)
    assert err.code == p.E_INVALID_FIELD and "2 to 20 points" in err.message
    evse.send(p.KeepAlive(1))
    evse.close()
