"""The config of each of N simulated stations (evse/sim/station_config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.config import load_station
from evse.sim.station_config import (
    DEFAULT_PASSWORD,
    FleetSettings,
    check_fleet,
    station_config,
    station_ids,
)
from evse.sim.stations import DEFAULT_CONFIG

URL = "ws://127.0.0.1:9000/ocpp"


def test_station_ids_are_distinct_and_padded() -> None:
    assert station_ids("SIM", 3) == ["SIM-001", "SIM-002", "SIM-003"]
    ids = station_ids("CS", 1500)
    assert len(set(ids)) == 1500 and ids[0] == "CS-0001" and ids[-1] == "CS-1500"


def test_each_station_gets_its_own_folder_id_and_in_process_devices(tmp_path: Path) -> None:
    base = load_station(DEFAULT_CONFIG)
    fleet = FleetSettings(URL, tmp_path, heartbeat_s=7, meter_interval_s=3)
    a, b = (station_config(base, fleet, sid) for sid in ("SIM-001", "SIM-002"))
    assert a.hal.socket_path != b.hal.socket_path
    assert a.controller.state_dir == tmp_path / "SIM-001" / "evse"
    assert a.hal.state_dir == tmp_path / "SIM-001" / "hal"
    assert a.hal.devices.mode == "sim"  # N stations cannot share ptys and TCP ports
    assert a.mqtt is None and a.slac is None and a.iso15118 == ()
    assert a.ocpp is not None and a.ocpp.station_id == "SIM-001"
    assert a.ocpp.csms_url == URL and a.ocpp.security_profile == 1
    assert a.ocpp.basic_auth_password == DEFAULT_PASSWORD
    assert a.ocpp.variables["OCPPCommCtrlr.HeartbeatInterval"] == 7
    assert a.ocpp.variables["SampledDataCtrlr.TxUpdatedInterval"] == 3
    assert a.controller.id_token == "SIMCARD"  # a transaction starts at plug-in
    assert a.hal.evses == base.hal.evses  # the rest is the base's


@pytest.mark.parametrize(
    ("n", "fleet", "why"),
    [
        (0, FleetSettings(URL, Path("/tmp/r")), "at least one"),
        (2, FleetSettings("http://h/ocpp", Path("/tmp/r")), "ws://"),
        (2, FleetSettings(URL, Path("/tmp/" + "x" * 100)), "too long"),
        (2, FleetSettings(URL, Path("/tmp/r"), password="short"), "16-40"),
        (2, FleetSettings(URL, Path("/tmp/r"), id_prefix="a:b"), "identifierString"),
        (2, FleetSettings(URL, Path("/tmp/r"), meter_interval_s=0), "at least 1 s"),
    ],
)
def test_bad_input_is_refused_with_the_reason(n: int, fleet: FleetSettings, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_fleet(n, fleet)
