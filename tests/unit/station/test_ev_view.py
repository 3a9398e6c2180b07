"""The car's session data reaches the controller (`controller.evses[eid].ev`, filled by
evse/station/iso_session.py from the SECC's actions) and its status line: stage, SOC
(ISO 15118-20 DisplayParameters), the car's limits (ChargeParameterDiscovery)."""

from __future__ import annotations

import tomllib

from evse.config import parse_station
from evse.controller import Controller
from evse.iso15118.d20.types import (
    EnergyTransfer,
    EvLimitsKnown,
    EvNeeds,
    EvStatus,
    SessionEnded,
    StartAuthorization,
)
from evse.station.iso_session import IsoSession
from hal.protocol import Measurement
from tests.conftest import ROOT

SIM = ROOT / "config" / "sim.toml"


def test_iso15118_20_session_data_reaches_the_controller_and_its_status_line() -> None:
    data = tomllib.loads(SIM.read_text())
    data["iso15118"] = [{"evse": 1, "interface": "eth1", "evseid": "DE*ABC*E1"}]
    c = Controller(parse_station(data, SIM), request_w=6000.0)
    view = c._view(1)
    view.max_charge_w = view.max_discharge_w = 11000.0
    view.measurement = Measurement(1, [230.0] * 3, 50.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, "C",
                                   False, True, True)
    iso = IsoSession(c, c.cfg.iso15118[0])
    assert view.ev is None
    iso.act((StartAuthorization("EIM"),))
    assert view.ev is not None and view.ev.stage == "setup"
    limits = EvLimitsKnown(max_charge_w=9000.0, max_discharge_w=7000.0)
    iso.act((EvNeeds("DC_BPT", "Dynamic", limits, departure_time_s=3600, target_soc=80,
                     min_soc=20),))
    iso.act((EnergyTransfer(start=True), EvStatus(soc=47, present_v=371.0, target_w=-5000.0)))
    ev = view.ev
    assert (ev.stage, ev.service, ev.control_mode, ev.soc_pct, ev.target_soc_pct) == (
        "energy", "DC_BPT", "Dynamic", 47, 80)
    assert (ev.max_charge_w, ev.max_discharge_w, ev.target_w) == (9000.0, 7000.0, -5000.0)
    line = c.status_line(1.0)
    assert "EV energy DC_BPT/Dynamic SOC 47->80 % max +9.0/-7.0 kW" in line
    iso.act((SessionEnded("terminate"),))
    assert view.ev.stage == "ended" and view.ev.end_reason == "terminate"
    iso.act((StartAuthorization("EIM"),))  # the next car's session starts afresh
    assert view.ev.stage == "setup" and view.ev.soc_pct is None
