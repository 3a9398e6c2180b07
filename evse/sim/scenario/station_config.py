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

from evse.sim.scenario.model import Scenario

SIM_TOML = Path(__file__).resolve().parents[3] / "config" / "sim.toml"
PASSWORD = "scenario-password-0001"  # the embedded CSMS's basic auth (loopback only)
STATION_ID = "SIM001"


@dataclass(frozen=True, slots=True)
class Endpoints:
    run_dir: Path
    csms_url: str | None  # None: no CSMS (free vend)
    mqtt_port: int
    speed: float = 1.0  # the OCPP clock's rate ([ocpp] clock_speed), 1: real time
    t0_monotonic: float = 0.0  # hal's scripted timeline starts here ([sim] t0_monotonic)
    sdp_port: int = 15118  # the SECC's SDP port on [::1] (SimCar's car)
    # --netns: the station's raw-socket SLAC interface (toward its simulated modem) and
    # its link-local interface for SDP / V2GTP (evse/sim/netns.py); None: unix + lo.
    slac_iface: str | None = None
    iso_iface: str | None = None


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` into `base` key by key (tables merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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
    # The world moves through hal's control socket at the scenario's times (grid events,
    # the car's plug); the scripted timeline of sim.toml's story is left out.
    sim["control_socket"] = str(run / "world.sock")
    sim["t0_monotonic"] = ends.t0_monotonic  # a restarted hal keeps the same timeline
    grid = sim.setdefault("grid", {})
    if "events" not in sc.station.get("sim", {}).get("grid", {}):
        grid.pop("events", None)
    sim.setdefault("ev", {}).pop("plug_in_at_s", None)
    sim["ev"].pop("unplug_at_s", None)
    sim.pop("car", None)  # the scenario's [car] is the car (run by `evse sim` itself)
    if sc.car.chain:
        _chain(cfg, sc, ends)
    else:  # hal's simulated EV speaks no SLAC: no coordinator, the request decides
        for key in ("slac", "iso15118"):
            if key not in sc.station:
                cfg.pop(key, None)
        if "dc" not in sc.station.get("sim", {}):
            sim.pop("dc", None)  # its output takes power only from an ISO 15118 session
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
            # ISO 15118: the transaction (and its Q01 V2X authorization, which decides
            # whether the SECC offers BPT) begins at authorization, before PowerDelivery.
            **({"TxCtrlr.TxStartPoint": "Authorized"} if sc.car.chain else {}),
            **sc.csms.variables,
        }
        ocpp["variables"] = {**ocpp.get("variables", {}), **variables}
        ctrl.setdefault("id_token", "CARD0001")
    return cfg


DC_SIM = {"isolation_check_s": 0.5, "precharge_v_per_s": 2000.0,
          "battery": {"capacity_kwh": 60.0, "soc_pct": 40.0, "v_empty": 330.0, "v_full": 420.0}}


def _chain(cfg: dict[str, Any], sc: Scenario, ends: Endpoints) -> None:
    """The car chain, unprivileged: SLAC on the Unix powerline, SDP and the SECC on lo."""
    run = ends.run_dir.resolve()
    # ISO 15118-3: SLAC on a raw socket toward the modem (--netns), or the Unix powerline.
    cfg.setdefault("slac", {})["interface"] = ends.slac_iface or f"unix:{run / 'plc'}"
    kinds = {e.get("id"): e.get("kind") for e in cfg.get("evse", [])}
    if kinds.get(sc.car.evse_id) == "dc":
        # The DC output (cable check, precharge, the car's battery voltage) is simulated
        # in process only: the SunSpec stage behind Modbus TCP has no DC side.
        cfg.setdefault("devices", {})["mode"] = "sim"
        cfg["devices"].pop("sim_transports", None)
        cfg["sim"].setdefault("dc", DC_SIM)
        if sc.car.plan is not None:
            cfg["sim"]["dc"].setdefault("battery", {})["soc_pct"] = sc.car.plan.soc_start
    if "iso15118" not in sc.station:
        cfg.pop("iso15118", None)  # sim.toml's: on its own SDP port choice
    if sc.car.iso15118 and "iso15118" not in sc.station:
        # ISO 15118-20 SDP: link-local multicast on port 15118 (--netns), or [::1].
        iface = ends.iso_iface or "lo"
        cfg["iso15118"] = [{"evse": sc.car.evse_id, "interface": iface,
                            "sdp_port": 15118 if ends.iso_iface else ends.sdp_port,
                            "evseid": "DE*SIM*E1",
                            "control_modes": ["Dynamic", "Scheduled"]}]
    ctrl = cfg.setdefault("controller", {})
    ctrl["pwm_duty_pct"] = 5.0 if sc.car.iso15118 else ctrl.get("pwm_duty_pct", 5.0)


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
