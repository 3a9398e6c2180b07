"""A scenario: station config overrides, a car plan, a timeline of steps and the checks
it expects, read from `config/scenarios/NAME.toml`. Every error names the key."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evse.sim.ev.plan import CarPlan as SimCarPlan
from evse.sim.ev.plan import parse_sim_car
from hal.config_reader import ConfigError, Table

SCENARIO_DIR = Path(__file__).resolve().parents[3] / "config" / "scenarios"

# What a step can do (`do = "..."`); the parameters each one takes, and which it needs.
STEP_KINDS: dict[str, tuple[set[str], set[str]]] = {
    "say": (set(), set()),
    "csms.call": ({"action", "payload", "expect_status"}, {"action"}),
    "csms.disconnect": (set(), set()),  # drop the connection; the station reconnects
    "csms.offline": ({"duration_s"}, {"duration_s"}),  # no CSMS for N s (or until online)
    "csms.online": (set(), set()),
    "grid": ({"frequency_hz", "voltage_v", "ramp_s"}, set()),
    "ems": ({"command", "payload"}, {"command"}),
    "car.plug": (set(), set()),
    "car.unplug": ({"abrupt"}, set()),  # abrupt: the cable is pulled, no SessionStop
    "car.want": ({"power_w"}, {"power_w"}),
    "process.kill": ({"target"}, {"target"}),  # kill -9 "controller" | "hal"
    "process.start": ({"target"}, {"target"}),  # start it again, as systemd would
}

# What a check can look at (`kind = "..."`) and the parameters each takes.
CHECK_KINDS: dict[str, set[str]] = {
    "power": {"min_w", "max_w", "any"},  # hal's measured active power (+ charges)
    "setpoint": {"min_w", "max_w", "any"},  # what hal commands the stage
    "contactor": {"closed", "any"},
    "grid_state": {"state", "any"},  # hal's constraint: normal | ceased | tripped | ...
    "ocpp": {"action", "match", "direction", "count_min", "count_max"},
    "hal_event": {"event", "match"},
    "mqtt": {"topic", "match"},
    "car_stage": {"stage", "any"},
    # -20 messages of the car; target_*: a ChargeLoopRes's EVSETargetActivePower, in W
    "iso15118": {"msg", "match", "direction", "count_min", "target_min_w", "target_max_w"},
}


class ScenarioError(ValueError):
    """A scenario file that cannot run: the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Step:
    at_s: float
    do: str
    say: str  # the words of the status line (filled in when the file gives none)
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Check:
    kind: str
    from_s: float
    to_s: float
    say: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CarSpec:
    """`[car]`: model = "simcar" (our car, evse/sim/ev/car.py: SLAC, SDP, ISO 15118-20;
    with iso15118 = false a car without it) takes every key of `[sim.car]`
    (evse/sim/ev/plan.py); model = "hal" is hal's simulated EV, plugged through the
    control socket, charged by the controller's request without any ISO 15118 session."""

    model: str = "hal"
    evse_id: int = 1
    plug_in_at_s: float | None = 1.0
    unplug_at_s: float | None = None
    pp_a: float = 32.0
    plan: SimCarPlan | None = None  # model = "simcar"

    @property
    def iso15118(self) -> bool:
        return self.plan is not None and self.plan.iso15118

    @property
    def chain(self) -> bool:
        """The station's pilot coordinator ([slac], [[iso15118]]) runs for this car."""
        return self.model == "simcar"


def _car(raw: dict[str, Any], where: str) -> CarSpec:
    data = dict(raw)
    model = data.pop("model", "hal")
    if model not in ("hal", "simcar"):
        raise ScenarioError(f"{where}: car.model = {model!r}: 'hal' or 'simcar'")
    try:
        if model == "simcar":
            cfg = parse_sim_car(Table(data, "car"), SCENARIO_DIR)
            return CarSpec("simcar", cfg.evse_id, cfg.plug_in_at_s, cfg.unplug_at_s,
                           cfg.plan.pp_a, cfg.plan)
        t = Table(data, "car")
        spec = CarSpec("hal", t.get_int("evse", 1, lo=1, hi=255),
                       t.opt_float("plug_in_at_s", lo=0.0), t.opt_float("unplug_at_s", lo=0.0),
                       t.get_float("pp_a", 32.0))
        t.reject_unknown()
        return spec
    except ConfigError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


@dataclass(frozen=True, slots=True)
class CsmsPlan:
    embedded: bool = True  # False: the scenario runs without any CSMS (free vend)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    duration_s: float
    max_speed: float  # 1: hal's real-time parts matter; > 1: only simulated time does
    speed_note: str  # why max_speed is what it is (shown when --speed is refused)
    station: dict[str, Any]  # overrides merged into config/sim.toml
    power_w: float | None  # the controller's request without a profile (evse run)
    car: CarSpec
    csms: CsmsPlan
    steps: tuple[Step, ...]
    checks: tuple[Check, ...]


def _table(data: Any, key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: '{key}' must be a table")
    return value


def _num(data: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: '{key}' = {value!r}: must be a number")
    return float(value)


def _words(do: str, params: dict[str, Any]) -> str:
    if do == "csms.call":
        return f"CSMS sends {params['action']}"
    if do == "grid":
        parts = []
        if "frequency_hz" in params:
            parts.append(f"{params['frequency_hz']:.2f} Hz")
        if "voltage_v" in params:
            parts.append(f"{params['voltage_v']:.1f} V")
        return "grid goes to " + " / ".join(parts)
    if do == "ems":
        return f"EMS sends {params['command']} over MQTT"
    if do.startswith("process."):
        return f"{'kill -9' if do == 'process.kill' else 'start'} {params['target']}"
    return do.replace(".", " ")


def _step(i: int, raw: Any, where: str) -> Step:
    at = f"{where}: step[{i}]"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{at}: must be a table")
    do = raw.get("do", "say")
    if do not in STEP_KINDS:
        raise ScenarioError(f"{at}: do = {do!r}: one of {', '.join(sorted(STEP_KINDS))}")
    allowed, needed = STEP_KINDS[do]
    params = {k: v for k, v in raw.items() if k not in ("at_s", "do", "say")}
    unknown = set(params) - allowed
    if unknown:
        raise ScenarioError(f"{at}: '{sorted(unknown)[0]}': unknown key for do = {do!r}")
    missing = needed - set(params)
    if missing:
        raise ScenarioError(f"{at}: do = {do!r} needs '{sorted(missing)[0]}'")
    if do == "grid" and not ({"frequency_hz", "voltage_v"} & set(params)):
        raise ScenarioError(f"{at}: do = 'grid' needs frequency_hz or voltage_v")
    if do.startswith("process.") and params["target"] not in ("controller", "hal"):
        raise ScenarioError(f"{at}: target = {params['target']!r}: 'controller' or 'hal'")
    if "payload" in params and not isinstance(params["payload"], dict):
        raise ScenarioError(f"{at}: 'payload' must be a table")
    say = raw.get("say", _words(do, params))
    if not isinstance(say, str):
        raise ScenarioError(f"{at}: 'say' must be a string")
    return Step(_num(raw, "at_s", at), do, say, params)


def _check(i: int, raw: Any, where: str, duration: float) -> Check:
    at = f"{where}: expect[{i}]"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{at}: must be a table")
    kind = raw.get("kind")
    if kind not in CHECK_KINDS:
        raise ScenarioError(f"{at}: kind = {kind!r}: one of {', '.join(sorted(CHECK_KINDS))}")
    params = {k: v for k, v in raw.items() if k not in ("kind", "from_s", "to_s", "at_s", "say")}
    unknown = set(params) - CHECK_KINDS[kind]
    if unknown:
        raise ScenarioError(f"{at}: '{sorted(unknown)[0]}': unknown key for kind = {kind!r}")
    if "at_s" in raw:  # one instant: the state at that time
        start = end = _num(raw, "at_s", at)
    else:
        start = _num(raw, "from_s", at, 0.0)
        end = _num(raw, "to_s", at, duration)
    if end < start:
        raise ScenarioError(f"{at}: to_s {end} is before from_s {start}")
    if kind in ("power", "setpoint") and not ({"min_w", "max_w"} & set(params)):
        raise ScenarioError(f"{at}: kind = {kind!r} needs min_w or max_w")
    if kind == "ocpp" and not isinstance(params.get("action"), str):
        raise ScenarioError(f"{at}: kind = 'ocpp' needs action = \"...\"")
    say = raw.get("say", "")
    if not isinstance(say, str):
        raise ScenarioError(f"{at}: 'say' must be a string")
    return Check(kind, start, end, say, params)


def parse(name: str, data: dict[str, Any], where: str) -> Scenario:
    known = {"description", "duration_s", "max_speed", "speed_note", "power_w", "station",
             "car", "csms", "step", "expect"}
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(f"{where}: '{sorted(unknown)[0]}': unknown key")
    desc = data.get("description", "")
    if not isinstance(desc, str) or not desc:
        raise ScenarioError(f"{where}: 'description' must be a one-line string")
    duration = _num(data, "duration_s", where)
    max_speed = _num(data, "max_speed", where, 1.0)
    if max_speed < 1.0:
        raise ScenarioError(f"{where}: 'max_speed' = {max_speed}: must be >= 1")
    car = _car(_table(data, "car", where), where)
    csms_raw = _table(data, "csms", where)
    bad = set(csms_raw) - {"embedded", "responses", "variables"}
    if bad:
        raise ScenarioError(f"{where}: csms.{sorted(bad)[0]}: unknown key")
    csms = CsmsPlan(
        bool(csms_raw.get("embedded", True)),
        _table(csms_raw, "responses", f"{where}: csms"),
        _table(csms_raw, "variables", f"{where}: csms"),
    )
    steps = [_step(i, s, where) for i, s in enumerate(data.get("step", []))]
    if car.model != "simcar" and any(s.do == "car.want" for s in steps):
        raise ScenarioError(f"{where}: do = 'car.want' needs car.model = 'simcar'")
    steps.sort(key=lambda s: s.at_s)
    checks = tuple(_check(i, c, where, duration) for i, c in enumerate(data.get("expect", [])))
    power = data.get("power_w")
    return Scenario(
        name=name,
        description=desc,
        duration_s=duration,
        max_speed=max_speed,
        speed_note=str(data.get("speed_note", "hal's grid loop and devices run in real time")),
        station=_table(data, "station", where),
        power_w=None if power is None else _num(data, "power_w", where),
        car=car,
        csms=csms,
        steps=tuple(steps),
        checks=checks,
    )


def load(name_or_path: str, folder: Path = SCENARIO_DIR) -> Scenario:
    """A scenario by name (from `folder`) or by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = folder / f"{name_or_path}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        names = ", ".join(n for n, _ in listing(folder))
        raise ScenarioError(f"no scenario {name_or_path!r} (there are: {names})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return parse(path.stem, data, str(path))


def listing(folder: Path = SCENARIO_DIR) -> list[tuple[str, str]]:
    """(name, one-line description) of every scenario in `folder`, sorted by name."""
    out = []
    for path in sorted(folder.glob("*.toml")):
        try:
            desc = tomllib.loads(path.read_text(encoding="utf-8")).get("description", "")
        except tomllib.TOMLDecodeError as exc:
            desc = f"(unreadable: {exc})"
        out.append((path.stem, str(desc)))
    return out


def truncated(sc: Scenario, duration_s: float) -> Scenario:
    """The scenario cut at `duration_s` (`--duration`): later steps and the checks that
    reach past the cut are left out (they cannot be judged)."""
    if duration_s >= sc.duration_s:
        return sc
    return replace(
        sc,
        duration_s=duration_s,
        steps=tuple(s for s in sc.steps if s.at_s <= duration_s),
        checks=tuple(c for c in sc.checks if c.to_s <= duration_s),
    )
