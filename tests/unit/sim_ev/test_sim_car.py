"""SimCar (evse/sim/ev/car.py) against hal's control socket served in this process: a
car without ISO 15118 plugs in (IEC 61851-1 B), reads the PWM as basic charging, plugs
itself in again when hal restarted without it (commands are idempotent), and leaves on
unplug(); `[sim.car]` errors name the key."""

from __future__ import annotations

import asyncio
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from evse.config import parse_station
from evse.sim.ev.car import SimCar, leave
from evse.sim.ev.plan import CarPlan
from hal.config_reader import ConfigError
from hal.sim.control import serve_control
from hal.sim.control_client import SimControl
from hal.sim.world import SimWorld
from tests.conftest import ROOT
from tests.unit.test_sim_control import _world

LIMIT_S = 20.0
SIM = ROOT / "config" / "sim.toml"


async def _until(pred: Any) -> None:
    async with asyncio.timeout(LIMIT_S):
        while not pred():  # noqa: ASYNC110 - polls the car's status
            await asyncio.sleep(0.02)


def test_basic_car_plugs_reads_the_pwm_replugs_after_a_hal_restart_and_leaves() -> None:
    async def scenario(path: Path) -> tuple[list[dict[str, Any]], SimWorld]:
        world = _world()
        server = asyncio.create_task(serve_control(path, world, lambda: 1.0))
        trace: list[dict[str, Any]] = []
        ctl = SimControl(path)
        car = SimCar(CarPlan(service="AC", iso15118=False), ctl, 1, path.parent / "plc",
                     "lo", 15118, trace.append)
        run = asyncio.create_task(car.run())
        try:
            await _until(lambda: car.status.plugged)
            assert world.evses[1].mcu.plugged_at(1.0) and car.status.stage == "matching"
            world.evses[1].mcu.set_pwm(16.67, 1.0)  # IEC 61851-1 Annex A: 10 A offered
            await _until(lambda: car.status.stage == "basic")
            server.cancel()  # hal goes ...
            await asyncio.gather(server, return_exceptions=True)
            world = _world()  # ... and comes back with a fresh world: nobody plugged in
            server = asyncio.create_task(serve_control(path, world, lambda: 2.0))
            await _until(lambda: world.evses[1].mcu.plugged_at(2.0))
            await leave(car, run, limit_s=LIMIT_S)
            assert not world.evses[1].mcu.plugged_at(2.0) and car.status.stage == "ended"
        finally:
            await leave(car, run, limit_s=1.0)
            await ctl.close()
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
        return trace, world

    with tempfile.TemporaryDirectory(prefix="car-") as d:
        trace, _ = asyncio.run(scenario(Path(d) / "w.sock"))
    kinds = [t["kind"] for t in trace]
    assert kinds[0] == "plug" and "replug" in kinds and kinds[-1] == "unplug"


@pytest.mark.parametrize(("car", "key"), [
    ({"service": "XX"}, "sim.car.service"),
    ({"pp_a": 16.0}, "sim.car.pp_a"),
    ({"plug_in_at_s": 5.0, "unplug_at_s": 2.0}, "sim.car.unplug_at_s"),
    ({"power": [{"at_s": 5.0, "power_w": 1.0}, {"at_s": 1.0, "power_w": 1.0}]},
     "sim.car.power"),
    ({"colour": "red"}, "sim.car.colour"),
])
def test_sim_car_errors_name_the_key(car: dict[str, Any], key: str) -> None:
    data = tomllib.loads(SIM.read_text())
    data["sim"]["car"] = {**data["sim"]["car"], **car}
    with pytest.raises(ConfigError) as exc:
        parse_station(data, SIM)
    assert exc.value.key == key


def test_sim_car_needs_the_control_socket_and_the_chain() -> None:
    data = tomllib.loads(SIM.read_text())
    cfg = parse_station(data, SIM)
    assert cfg.sim_car is not None and cfg.sim_car.plan.service == "DC_BPT"
    assert cfg.sim_car.plan.power[0].power_w == 11000.0
    no_socket = tomllib.loads(SIM.read_text())
    del no_socket["sim"]["control_socket"]
    with pytest.raises(ConfigError, match="control_socket"):
        parse_station(no_socket, SIM)
    no_iso = tomllib.loads(SIM.read_text())
    del no_iso["iso15118"]
    with pytest.raises(ConfigError, match="iso15118"):
        parse_station(no_iso, SIM)


def test_want_changes_the_cars_power_script_from_now_on() -> None:
    now = [100.0]
    car = SimCar(CarPlan(), SimControl("/nonexistent"), 1, Path("/tmp"), "lo", 15118,
                 lambda e: None, clock=lambda: now[0])
    assert car._cfg.wanted_w(0.0) == 11000.0
    now[0] = 130.0  # 30 s after the car's t0
    car.want(-5000.0)
    assert car._cfg.wanted_w(10.0) == 11000.0  # the past stays as it was
    assert car._cfg.wanted_w(30.0) == -5000.0
