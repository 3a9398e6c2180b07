"""The station config a scenario runs on (written as TOML, read back by the station's
own loader), the `[[expect]]` checks judged on a trace, the OCPP side's scaled clock
(`--speed`), and the trace's t = 0 at readiness."""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from pathlib import Path
from typing import Any

from evse.config import load_station
from evse.ocpp.clock import ScaledClock
from evse.sim.scenario import model, station_config
from evse.sim.scenario.checks import judge, matches
from evse.sim.scenario.model import Check
from evse.sim.scenario.trace import Timeline, Trace


def ends(tmp: Path, speed: float = 1.0) -> station_config.Endpoints:
    return station_config.Endpoints(tmp, "ws://127.0.0.1:9/ocpp", 1884, speed, 123.0, 15200)


def test_generated_config_loads_in_the_station_and_keeps_everything_in_the_run_dir(
    tmp_path: Path,
) -> None:
    for name in ("default", "basic_charging", "csms_offline", "grid_trip"):
        sc = model.load(name)
        path = station_config.write(station_config.build(sc, ends(tmp_path, 2.0)),
                                    tmp_path / f"{name}.toml")
        cfg = load_station(path)  # the same validation `evse run` does
        assert cfg.hal.socket_path == tmp_path / "hal.sock"
        assert cfg.ocpp is not None and cfg.ocpp.clock_speed == 2.0
        raw = tomllib.loads(path.read_text())
        assert raw["sim"]["control_socket"] == str(tmp_path / "world.sock")
        assert raw["sim"]["t0_monotonic"] == 123.0
        assert "schedule" not in raw["controller"], "the scenario steers, not sim.toml's story"
        assert "plug_in_at_s" not in raw["sim"]["ev"], "the car plugs in through the socket"
        assert raw["mqtt"]["port"] == 1884 and raw["mqtt"]["embedded_broker"] is False
        if sc.car.model == "simcar":
            assert raw["slac"]["interface"] == f"unix:{tmp_path / 'plc'}"
            assert raw["ocpp"]["variables"]["TxCtrlr.TxStartPoint"] == "Authorized"
        else:
            assert "slac" not in raw and "iso15118" not in raw, "hal's EV speaks no SLAC"
            assert "dc" not in raw["sim"], "no DC output: the request decides the power"
        if sc.car.iso15118:
            assert raw["iso15118"][0]["interface"] == "lo"
            assert raw["iso15118"][0]["sdp_port"] == 15200


def test_toml_writer_round_trips_nested_tables_and_arrays() -> None:
    data: dict[str, Any] = {"a": 1, "b": {"c": "x\"y", "d": [1.5, 2.0]}, "e": [{"f": True},
                            {"g": {"h": 3}}], "k.with.dots": {"ok": False}}
    assert tomllib.loads(station_config.dumps(data)) == data


def rec(t: float, src: str, **f: Any) -> dict[str, Any]:
    return {"t": t, "src": src, **f}


def meas(t: float, w: float, closed: bool = True) -> dict[str, Any]:
    return rec(t, "hal", type="measurement", active_w=w, setpoint_w=w, contactor_closed=closed)


TRACE = [meas(0.5, 0.0, False), meas(1.0, 6900.0), meas(2.0, 7000.0), meas(3.0, -4000.0),
         rec(2.5, "hal", type="constraint", state="tripped", p_min_w=0.0, p_max_w=0.0),
         rec(2.6, "ocpp", direction="station->csms", action="NotifyDERAlarm",
             frame=[2, "1", "NotifyDERAlarm", {"controlType": "HFMustTrip",
                                                "alarmEnded": False}]),
         rec(2.7, "mqtt", topic="evse/evse/1/reply", payload={"id": "a", "ok": True})]


def check(kind: str, a: float, b: float, **p: Any) -> bool:
    return judge(Check(kind, a, b, "", p), TRACE).ok


def test_checks_judge_windows_instants_and_matches() -> None:
    assert check("power", 1.0, 2.0, min_w=6500.0)
    assert not check("power", 1.0, 3.0, min_w=6500.0)
    assert check("power", 1.0, 3.0, max_w=-3000.0, any=True)
    assert check("power", 3.0, 3.0, max_w=-3000.0)  # an instant: the nearest sample
    assert not check("power", 10.0, 11.0, max_w=0.0), "no samples: never a pass"
    assert check("contactor", 1.0, 3.0, closed=True)
    assert not check("contactor", 0.0, 3.0, closed=True)
    assert check("grid_state", 2.5, 3.0, state="tripped")
    assert check("grid_state", 2.8, 3.0, state="tripped"), "the state in force before it"
    assert check("ocpp", 0.0, 3.0, action="NotifyDERAlarm", match={"alarmEnded": False})
    assert not check("ocpp", 0.0, 3.0, action="NotifyDERAlarm", match={"alarmEnded": True})
    assert check("ocpp", 0.0, 2.0, action="NotifyDERAlarm", count_min=0, count_max=0)
    assert check("mqtt", 0.0, 3.0, topic="evse/1/reply", match={"ok": True})
    assert matches({"a": {"b": 1.0, "c": 2}}, {"a": {"b": 1}})
    assert not matches({"a": 1}, {"a": 1, "b": 2})


def test_scaled_clock_runs_k_times_faster_for_timers_and_wall_time() -> None:
    async def go() -> tuple[float, float, float]:
        clock = ScaledClock(100.0)
        m0, w0, r0 = clock.monotonic(), clock.wall(), time.monotonic()
        await clock.sleep(20.0)  # 20 simulated s: 0.2 real s
        real = time.monotonic() - r0
        return clock.monotonic() - m0, (clock.wall() - w0).total_seconds(), real

    sim_s, wall_s, real_s = asyncio.run(go())
    assert sim_s >= 20.0 and wall_s >= 20.0
    assert real_s < 10.0, "a 20 s sleep at 100x must not take anything like 20 s"


def test_trace_holds_lines_until_ready_then_times_count_from_there(tmp_path: Path) -> None:
    timeline = Timeline(1.0, start=100.0)
    trace = Trace(tmp_path / "t.jsonl", timeline)
    told: list[dict[str, Any]] = []
    trace.listeners.append(told.append)
    timeline.now = lambda: 3.0  # type: ignore[method-assign]
    trace.add("process", target="hal", event="started")
    assert told == [] and (tmp_path / "t.jsonl").read_text() == ""
    trace.start(105.0)  # ready 5 s after the start
    trace.close()
    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert lines[0]["t"] == -2.0 and told[0]["t"] == -2.0
