"""The station config a scenario runs on: config/sim.toml, the scenario's overrides, and
what the orchestrator decides (paths in the run directory, the CSMS, the broker, the
sim EV's plug times and grid events where hal's scripted timeline carries them)."""

from __future__ import annotations

import copy
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evse.sim.scenario.model import Scenario, ScenarioError

SIM_TOML = Path(__file__).resolve().parents[3] / "config" / "sim.toml"
PASSWORD = "scenario-password-0001"  # the embedded CSMS's basic auth (loopback only)
STATION_ID = "SIM001"


@dataclass(frozen=True, slots=True)
class Endpoints:
    run_dir: Path
    csms_url: str | None  # None: no CSMS (free vend)
    mqtt_port: int
    speed: float = 1.0  # the OCPP clock's rate ([ocpp] clock_speed), 1: real time


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` into `base` key by key (tables merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _grid_events(sc: Scenario, speed: float) -> list[dict[str, Any]]:
    """Grid steps on hal's scripted timeline (hal starts at the scenario's t = 0; hal
    runs in real time, so at --speed K a step at scenario time t is at t / K for hal)."""
    events = []
    for step in sc.steps:
        if step.do != "grid":
            continue
        ev: dict[str, Any] = {"at_s": step.at_s / speed}
        ramp = float(step.params.get("ramp_s", 0.0)) / speed
        ev["kind"] = "ramp" if ramp > 0 else "step"
        if ramp > 0:
            ev["duration_s"] = ramp
        for key in ("frequency_hz", "voltage_v"):
            if key in step.params:
                ev[key] = float(step.params[key])
        events.append(ev)
    return events


def _plug_times(sc: Scenario) -> tuple[float | None, float | None]:
    plug, unplug = sc.car.plug_at_s, sc.car.unplug_at_s
    plugs = [s.at_s for s in sc.steps if s.do == "car.plug"]
    unplugs = [s.at_s for s in sc.steps if s.do == "car.unplug"]
    if len(plugs) > 1 or len(unplugs) > 1:
        raise ScenarioError(f"{sc.name}: hal's sim EV plugs in and out once per run")
    plug = plugs[0] if plugs else plug
    unplug = unplugs[0] if unplugs else unplug
    return plug, unplug


def build(sc: Scenario, ends: Endpoints, base_path: Path = SIM_TOML) -> dict[str, Any]:
    base = tomllib.loads(base_path.read_text(encoding="utf-8"))
    cfg = merge(base, sc.station)
    run = ends.run_dir.resolve()
    cfg.setdefault("hal", {}).update(socket=str(run / "hal.sock"), state_dir=str(run / "hal"))
    ctrl = cfg.setdefault("controller", {})
    ctrl["state_dir"] = str(run / "evse")
    if "schedule" not in sc.station.get("controller", {}):
        ctrl.pop("schedule", None)  # the scenario's timeline steers, not sim.toml's story
    if sc.power_w is not None:
        ctrl["request_w"] = sc.power_w
    sim = cfg.setdefault("sim", {})
    grid = sim.setdefault("grid", {})
    grid["events"] = list(grid.get("events", [])) if "grid" in sc.station.get("sim", {}) else []
    grid["events"] += _grid_events(sc, ends.speed)
    grid["events"].sort(key=lambda e: float(e["at_s"]))
    if not sc.car.iso15118:
        plug, unplug = _plug_times(sc)
        ev = sim.setdefault("ev", {})
        ev.pop("plug_in_at_s", None)
        ev.pop("unplug_at_s", None)
        if plug is not None:
            ev["plug_in_at_s"] = plug / ends.speed
        if unplug is not None:
            ev["unplug_at_s"] = unplug / ends.speed
    mqtt = cfg.setdefault("mqtt", {})
    # The orchestrator runs the broker (the controller is a child process that may die).
    mqtt.update(embedded_broker=False, host="127.0.0.1", port=ends.mqtt_port,
                client_id="evse-scenario", status_period_s=2.0)
    mqtt.setdefault("topic_prefix", "evse")
    if ends.csms_url is not None:
        ocpp = cfg.setdefault("ocpp", {})
        ocpp.setdefault("csms_url", ends.csms_url)
        ocpp.setdefault("station_id", STATION_ID)
        ocpp.setdefault("basic_auth_password", PASSWORD)
        if ends.speed != 1.0:
            ocpp["clock_speed"] = ends.speed
        variables = {
            "OCPPCommCtrlr.RetryBackOffWaitMinimum": 1,
            "OCPPCommCtrlr.RetryBackOffRandomRange": 0,
            "SampledDataCtrlr.TxUpdatedInterval": 5,
            **sc.csms.variables,
        }
        ocpp["variables"] = {**ocpp.get("variables", {}), **variables}
        ctrl.setdefault("id_token", "CARD0001")
    return cfg


# ---- a small TOML writer (the standard library reads TOML but does not write it) ----

def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"not a TOML number: {v}")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise ValueError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def dumps(data: dict[str, Any], prefix: str = "") -> str:
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for k, v in data.items():
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, dict):
            tables.append((name, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((name, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for name, table in tables:
        out += f"\n[{name}]\n" + dumps(table, name)
    for name, items in arrays:
        for item in items:
            out += f"\n[[{name}]]\n" + dumps(item, name)
    return out


def write(cfg: dict[str, Any], path: Path) -> Path:
    path.write_text("# generated by `evse sim --scenario`: do not edit\n" + dumps(cfg))
    tomllib.loads(path.read_text())  # what we wrote must read back
    return path
