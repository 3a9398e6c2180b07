"""The pure parts behind `evse sim --netns` (issue 16): the station's generated config on
the namespaces' interfaces (ISO 15118-3 SLAC on a raw socket, ISO 15118-20 SDP on
link-local port 15118), the car's plan and status across the process boundary, and a
bad spec for the car's process refused with exit 2."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from evse.config import load_station
from evse.sim.ev.car import CarStatus
from evse.sim.ev.car_process import commands, plan_from_json, plan_to_json, status_from_json
from evse.sim.ev.config import PowerStep
from evse.sim.ev.plan import CarPlan
from evse.sim.scenario import model, station_config


def test_netns_config_iso15118_3_raw_socket_slac_and_20_sdp_on_link_local(
        tmp_path: Path) -> None:
    ends = station_config.Endpoints(tmp_path, "ws://127.0.0.1:9/ocpp", 1884, 1.0, 1.0, 15200,
                                    slac_iface="nabcdefe0", iso_iface="nabcdefs0")
    path = station_config.write(station_config.build(model.load("default"), ends),
                                tmp_path / "station.toml")
    load_station(path)  # the same validation `evse run` does
    raw = tomllib.loads(path.read_text())
    assert raw["slac"]["interface"] == "nabcdefe0"
    assert raw["iso15118"][0]["interface"] == "nabcdefs0"
    assert raw["iso15118"][0]["sdp_port"] == 15118  # SDP's own port on a real link


def test_car_plan_and_status_cross_the_process_boundary_unchanged() -> None:
    plan = CarPlan(service="AC_BPT", soc_start=55.5,
                   power=(PowerStep(0.0, 7000.0), PowerStep(9.0, -4000.0)))
    assert plan_from_json(json.loads(json.dumps(plan_to_json(plan)))) == plan
    status = CarStatus("unplugged", 0.0, "DC", "Dynamic")
    status_from_json({"stage": "discharging", "present_w": -4000.0, "matches": 1,
                      "unknown": 1}, status)
    assert (status.stage, status.present_w, status.matches) == ("discharging", -4000.0, 1)


def test_car_process_refuses_a_bad_spec_with_exit_2() -> None:
    for spec in ("not json", json.dumps({"plan": {"colour": "red"}, "control": "/x",
                                         "iso_iface": "lo"}), json.dumps([1]),
                 json.dumps({"plan": {}, "control": "/x"})):
        res = subprocess.run([sys.executable, "-m", "evse.sim.ev.car_process", spec],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 2 and "bad spec" in res.stderr, (spec, res.stderr)


class _Driver:
    def __init__(self) -> None:
        self.done: list[str] = []

    def unplug(self) -> None:
        self.done.append("unplug")

    def want(self, power_w: float) -> None:
        self.done.append(f"want {power_w:g}")


def test_car_process_commands_want_unplug_and_the_end_of_input_unplugs() -> None:
    async def play(text: bytes) -> list[str]:
        reader = asyncio.StreamReader()
        reader.feed_data(text)
        reader.feed_eof()
        car = _Driver()
        await commands(car, reader)
        return car.done

    assert asyncio.run(play(b"want -5000.0\nwant x\nhonk\nunplug\n")) == [
        "want -5000", "unplug", "unplug"]  # bad lines skipped; end of input: the driver left
    assert asyncio.run(play(b"")) == ["unplug"]
