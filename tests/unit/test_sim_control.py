"""hal's simulated-world control socket (hal/sim/control.py, docs/sim-control.md): plug
and unplug with the PP coding (IEC 61851-1), S2, the DC battery's SOC at plug-in, grid
events now, the house load, the shared time base; bad commands change nothing; the
async client against the real socket server."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hal.config import parse_hal
from hal.config_reader import ConfigError, Table
from hal.devices.base import CpState
from hal.sim.control import apply, serve_control
from hal.sim.control_client import SimControl, SimControlError
from hal.sim.world import SimWorld
from tests.integration.hal_inproc import CONFIG

DC = """
[sim.dc]
[sim.dc.battery]
soc_pct = 50.0
[sim.grid_meter]
house_w = 1000.0
"""


def _cfg(site: str, no_plug: bool = True, extra_sim: str = "") -> Any:
    text = CONFIG.format(dir="/tmp", timeout=0.5, hal_extra="", more_evses="") + site
    if no_plug:
        text = text.replace("plug_in_at_s = 0.0", "")
    text = text.replace("[sim.ev]", extra_sim + "\n[sim.ev]", 1)
    cfg = parse_hal(Table(tomllib.loads(text), ""), Path("/tmp"))
    assert cfg.sim is not None
    return cfg


def _world(site: str = DC, now: float = 0.0) -> SimWorld:
    cfg = _cfg(site)
    return SimWorld(cfg.sim, cfg.evses, now)


def _do(world: SimWorld, now: float, **cmd: Any) -> dict[str, Any]:
    return apply(world, json.dumps(cmd).encode(), now)


def test_plug_and_unplug_drive_the_pilot_iec61851_1_states_a_b_c() -> None:
    w = _world()
    assert w.evses[1].mcu.state().cp_state is CpState.A
    w.evses[1].mcu.set_pwm(100.0, 0.5)  # X1
    r = _do(w, 1.0, cmd="plug", evse=1, pp_a=20, id=7)
    assert r["ok"] and r["id"] == 7 and r["cp"] == "B" and r["pp_a"] == 20.0
    assert w.evses[1].mcu.state().pp_ampacity_a == 20.0  # PP coding seen by hal
    w.evses[1].mcu.set_pwm(5.0, 1.1)
    assert w.evses[1].mcu.state().cp_state is CpState.C  # S2 closed by default
    assert _do(w, 1.2, cmd="s2", evse=1, closed=False)["cp"] == "B"  # the EV waits
    assert _do(w, 1.3, cmd="s2", evse=1, closed=True)["cp"] == "C"
    r = _do(w, 2.0, cmd="unplug", evse=1)
    assert r["ok"] and r["cp"] == "A" and not r["plugged"]
    assert w.evses[1].mcu.state().pp_ampacity_a is None


def test_plug_sets_the_dc_soc_once_a_resend_is_idempotent() -> None:
    w = _world()
    r = _do(w, 1.0, cmd="plug", evse=1, soc_pct=35.0)
    assert r["ok"] and r["soc_pct"] == pytest.approx(35.0)
    w.evses[1].stage.dc.battery.energy_wh += 600.0  # type: ignore[union-attr]  # charged 1 %
    r = _do(w, 2.0, cmd="plug", evse=1, soc_pct=35.0)  # the orchestrator re-sends its state
    assert r["ok"] and r["soc_pct"] == pytest.approx(36.0)  # the car's energy is kept


def test_grid_step_and_ramp_now_and_resent_events_are_not_doubled() -> None:
    w = _world(DC.replace("[sim.dc]", "[sim.grid]\nseed = 1\n[sim.dc]"))
    r = _do(w, 10.0, cmd="grid", kind="ramp", frequency_hz=50.4, duration_s=2.0)
    assert r["ok"] and r["added"] and r["at"] == 10.0
    assert w.grid.scripted(11.0)[1] == pytest.approx(50.2)
    assert w.grid.scripted(13.0)[1] == pytest.approx(50.4)
    assert not _do(w, 11.0, cmd="grid", kind="ramp", frequency_hz=50.4, duration_s=2.0,
                   at=10.0)["added"]
    _do(w, 14.0, cmd="grid", kind="step", voltage_v=[250.0, 250.0, 250.0])
    v, f = w.grid.scripted(14.0)
    assert v == (250.0, 250.0, 250.0) and f == pytest.approx(50.4)
    assert _do(w, 15.0, cmd="grid", kind="clear")["ok"]
    assert w.grid.scripted(15.0) == ((230.0, 230.0, 230.0), 50.0)


def test_house_load_replaces_the_configured_one() -> None:
    w = _world()
    assert w.site_w(1.0) == pytest.approx(1000.0)
    assert _do(w, 1.0, cmd="house", w=-3000.0)["ok"]
    assert w.site_w(1.0) == pytest.approx(-3000.0)
    assert _do(w, 1.0, cmd="house", w=None)["ok"]
    assert w.site_w(1.0) == pytest.approx(1000.0)


@pytest.mark.parametrize("cmd", [
    b"not json", b"[1]", b'{"cmd": "fly"}', b'{"cmd": "plug", "evse": 9}',
    b'{"cmd": "plug", "evse": 1, "pp_a": 16}', b'{"cmd": "s2", "evse": 1, "closed": 1}',
    b'{"cmd": "grid", "kind": "ramp", "frequency_hz": 50.2}',  # no duration
    b'{"cmd": "grid", "kind": "step"}', b'{"cmd": "house", "w": "much"}',
    b'{"cmd": "plug", "evse": 1, "soc_pct": 140}',
])
def test_bad_commands_get_an_error_and_change_nothing(cmd: bytes) -> None:
    w = _world()
    before = _do(w, 1.0, cmd="state")
    r = apply(w, cmd, 1.0)
    assert r["ok"] is False and r["error"]
    assert _do(w, 1.0, cmd="state") == before


def test_t0_monotonic_continues_the_scripted_timeline() -> None:
    # hal restarted 100 s into the run: the event at 120 s is 20 s away, not 120 s.
    events = '[[sim.grid.events]]\nkind = "step"\nat_s = 120.0\nfrequency_hz = 49.8\n'
    cfg = _cfg(DC.replace("[sim.dc]", f"[sim.grid]\n{events}[sim.dc]"),
               extra_sim="[sim]\nt0_monotonic = 1000.0\ncontrol_socket = \"w.sock\"\n")
    assert cfg.sim.t0_monotonic == 1000.0 and cfg.sim.control_socket == Path("/tmp/w.sock")
    w = SimWorld(cfg.sim, cfg.evses, 1100.0)
    assert w.grid.scripted(1119.0)[1] == 50.0
    assert w.grid.scripted(1120.0)[1] == 49.8
    assert apply(w, b'{"cmd": "state"}', 1110.0)["t_s"] == pytest.approx(110.0)
    with pytest.raises(ConfigError, match="t0_monotonic"):
        _cfg(DC, extra_sim="[sim]\nt0_monotonic = -1.0\n")


def test_the_client_over_the_socket_and_a_refusal() -> None:
    w = _world()

    async def scenario(path: Path) -> None:
        server = asyncio.create_task(serve_control(path, w, lambda: 3.0))
        ctl = SimControl(path)
        try:
            for _ in range(200):
                if os.path.exists(path):  # noqa: ASYNC240 - a stat, in a test
                    break
                await asyncio.sleep(0.01)
            ev = await ctl.plug(1, pp_a=32, soc_pct=60.0)
            assert ev.cp == "B" and ev.plugged and ev.soc_pct == pytest.approx(60.0)
            state = await ctl.state()
            assert state.evses[1].plugged and state.grid_hz == pytest.approx(50.0, abs=0.1)
            assert await ctl.grid_step(frequency_hz=50.3)
            with pytest.raises(SimControlError, match="pp_a"):
                await ctl.plug(1, pp_a=15)
            assert (await ctl.unplug(1)).cp == "A"  # the connection survived the refusal
        finally:
            await ctl.close()
            server.cancel()
            with pytest.raises(asyncio.CancelledError):
                await server
        assert not os.path.exists(path)  # noqa: ASYNC240

    with tempfile.TemporaryDirectory(prefix="evse-") as d:
        asyncio.run(scenario(Path(d) / "w.sock"))
