"""Scenario files (config/scenarios/*.toml): every shipped one loads; bad input gets an
error that names the file and the key; --speed is refused where hal's real-time parts
matter; --duration cuts the timeline and the checks it cannot judge."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from evse.sim.scenario import model
from evse.sim.scenario.model import ScenarioError
from evse.sim.scenario.runner import check_speed, expand

BASE: dict[str, Any] = {"description": "d", "duration_s": 10.0}


def parse(**extra: Any) -> model.Scenario:
    return model.parse("t", {**BASE, **extra}, "t.toml")


def test_every_shipped_scenario_loads_with_a_one_line_description() -> None:
    rows = model.listing()
    assert {"default", "basic_charging", "grid_trip", "csms_offline", "controller_killed",
            "hal_killed", "unplugged"} <= {name for name, _ in rows}
    for name, desc in rows:
        sc = model.load(name)
        assert desc and "\n" not in desc
        assert sc.checks, f"{name}: a scenario is also a test: it needs checks"
        assert all(c.to_s <= sc.duration_s for c in sc.checks), name


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"step": [{"at_s": 1.0, "do": "fly"}]}, "do = 'fly'"),
        ({"step": [{"at_s": 1.0, "do": "csms.call"}]}, "needs 'action'"),
        ({"step": [{"at_s": 1.0, "do": "grid", "hz": 50.2}]}, "'hz': unknown key"),
        ({"step": [{"at_s": 1.0, "do": "grid"}]}, "frequency_hz or voltage_v"),
        ({"step": [{"at_s": 1.0, "do": "process.kill", "target": "csms"}]}, "target"),
        ({"step": [{"at_s": "soon"}]}, "'at_s' = 'soon'"),
        ({"step": [{"at_s": 1.0, "do": "car.want", "power_w": 5.0}]}, "car.model = 'simcar'"),
        ({"expect": [{"kind": "power"}]}, "min_w or max_w"),
        ({"expect": [{"kind": "power", "max_w": 1.0, "from_s": 5.0, "to_s": 1.0}]}, "before"),
        ({"expect": [{"kind": "smell"}]}, "kind = 'smell'"),
        ({"car": {"model": "bike"}}, "car.model = 'bike'"),
        ({"car": {"model": "simcar", "service": "WPT"}}, "car.service"),
        ({"car": {"wheels": 4}}, "car.wheels"),
        ({"colour": "red"}, "'colour': unknown key"),
        ({"max_speed": 0.5}, "max_speed"),
    ],
)
def test_bad_scenario_errors_name_the_key(extra: dict[str, Any], named: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse(**extra)
    assert "t.toml" in str(err.value)
    assert named in str(err.value)


def test_unknown_scenario_names_the_ones_there_are(tmp_path: Path) -> None:
    (tmp_path / "one.toml").write_text('description = "x"\nduration_s = 1.0\n')
    with pytest.raises(ScenarioError, match="there are: one"):
        model.load("two", tmp_path)


def test_speed_is_refused_with_the_reason_where_hal_runs_in_real_time() -> None:
    with pytest.raises(ScenarioError, match="at most at --speed 1: grid events, droop"):
        check_speed(model.load("default"), 10.0)
    check_speed(model.load("csms_offline"), 120.0)  # only the OCPP clock matters there
    with pytest.raises(ScenarioError, match="at most at --speed 120"):
        check_speed(model.load("csms_offline"), 500.0)


def test_duration_cuts_steps_and_the_checks_it_cannot_judge() -> None:
    sc = model.load("default")
    cut = model.truncated(sc, 30.0)
    assert cut.duration_s == 30.0
    assert all(s.at_s <= 30.0 for s in cut.steps)
    assert all(c.to_s <= 30.0 for c in cut.checks) and cut.checks
    assert len(cut.checks) < len(sc.checks)


def test_timeline_adds_plug_unplug_and_the_end_of_an_offline_spell() -> None:
    sc = parse(car={"plug_in_at_s": 1.0, "unplug_at_s": 8.0},
               step=[{"at_s": 2.0, "do": "csms.offline", "duration_s": 3.0},
                     {"at_s": 6.0, "do": "csms.offline", "duration_s": 100.0}])
    assert [(s.at_s, s.do) for s in expand(sc)] == [
        (1.0, "car.plug"), (2.0, "csms.offline"), (5.0, "csms.online"),
        (6.0, "csms.offline"), (8.0, "car.unplug")]  # the second never ends within the run


def test_shipped_files_are_valid_toml_with_steps_in_time_order() -> None:
    for path in model.SCENARIO_DIR.glob("*.toml"):
        data = tomllib.loads(path.read_text())
        times = [s["at_s"] for s in data.get("step", [])]
        assert times == sorted(times), path.name
