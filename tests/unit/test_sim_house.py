"""The simulated site behind the grid connection point (`[sim.grid_meter]`): a house load
on the sim's clock plus the EVSEs' power, measured by the grid meter (OCPP 2.1 Q09)."""

from __future__ import annotations

import tomllib

import pytest

from hal.config import parse_hal
from hal.config_reader import ConfigError, Table
from hal.sim.house import parse_house
from hal.sim.world import SimWorld
from tests.integration.hal_inproc import CONFIG

SITE = """
[sim.grid_meter]
house_w = 2000.0
[[sim.grid_meter.steps]]
at_s = 10.0
house_w = -3000.0
"""


def test_house_load_steps_on_the_sim_clock() -> None:
    house = parse_house(Table(tomllib.loads(SITE)["sim"]["grid_meter"], "sim.grid_meter"))
    assert [house.load_w(t) for t in (0.0, 9.9, 10.0, 100.0)] == [2000.0, 2000.0, -3000.0, -3000.0]


def test_house_steps_must_not_go_back_in_time() -> None:
    bad = {"house_w": 0.0, "steps": [{"at_s": 5.0, "house_w": 1.0}, {"at_s": 4.0, "house_w": 2.0}]}
    with pytest.raises(ConfigError, match=r"sim\.grid_meter\.steps"):
        parse_house(Table(bad, "sim.grid_meter"))
    with pytest.raises(ConfigError, match=r"grid_meter\.bogus"):
        parse_house(Table({"bogus": 1}, "sim.grid_meter"))


def _world(site: str, tmp: str = "/tmp") -> SimWorld:
    text = CONFIG.format(dir=tmp, timeout=0.5, hal_extra="", more_evses="") + site
    cfg = parse_hal(Table(tomllib.loads(text), ""), tmp)  # type: ignore[arg-type]
    assert cfg.sim is not None
    return SimWorld(cfg.sim, cfg.evses, 0.0)


def test_grid_meter_measures_the_house_plus_the_evses() -> None:
    world = _world(SITE)
    r = world.grid_meter_reading(1.0)  # the EVSE's contactor is open: the house alone
    assert r.total_w == pytest.approx(2000.0) and len(r.active_w) == 3
    world.evses[1].stage.active_w = 5000.0  # the EVSE charges 5 kW
    assert world.site_w(1.0) == pytest.approx(7000.0)  # imported at the connection point
    assert world.site_w(10.0) == pytest.approx(2000.0)  # PV surplus covers 3 of the 5 kW
    r = world.grid_meter_reading(20.0)
    assert r.import_wh > 0.0 and r.export_wh > 0.0  # the house alone exports after 10 s


def test_a_site_without_grid_meter_table_has_no_grid_meter() -> None:
    assert _world("").grid_meter is None
