"""NotifyEVChargingNeeds once per ISO 15118-20 session (OCPP 2.1 K15 / K17): the real
ChargeParameterDiscovery and ScheduleExchange handlers both hand the station the car's
needs (the energy manager wants the limits at once); the CSMS hears them once, complete,
and again only when they changed (renegotiation), not on a resumed session."""

from __future__ import annotations

import dataclasses
import tomllib
from typing import Any

from evse.config import parse_station
from evse.controller import Controller
from evse.energy.manager import EvLimits
from evse.iso15118.d20 import ac_charge_parameter_discovery as ac_cpd
from evse.iso15118.d20 import schedule_exchange as se
from evse.iso15118.d20.types import SessionContext, SessionEnded
from evse.iso15118.exi._generated.ac_types import AC_ChargeParameterDiscoveryReqType
from evse.iso15118.exi._generated.common_types import (
    Dynamic_SEReqControlModeType,
    ScheduleExchangeReqType,
)
from evse.station.ev_needs import EvNeeds as OcppNeeds
from evse.station.iso_session import IsoSession
from tests.conftest import ROOT
from tests.unit.iso15118.d20_power_rig import ctx, hdr, r, view
from tests.unit.iso15118.test_d20_power_cpd import ac_bpt

SIM = ROOT / "config" / "sim.toml"


class OcppStation:
    """The part of OcppStation the SECC side uses: what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[OcppNeeds] = []

    def authorized(self, _evse_id: int) -> bool:
        return True

    def notify_ev_charging_needs(self, _evse_id: int, needs: OcppNeeds) -> None:
        self.sent.append(needs)


def _session() -> tuple[Controller, IsoSession, OcppStation]:
    data = tomllib.loads(SIM.read_text())
    data["controller"]["pwm_duty_pct"] = 5.0
    data["iso15118"] = [{"evse": 1, "interface": "eth1", "evseid": "DE*ABC*E1"}]
    c = Controller(parse_station(data, SIM), request_w=6000.0)
    c.free_vend = True
    view_ = c._view(1)
    view_.max_charge_w = view_.max_discharge_w = 11000.0
    ocpp = OcppStation()
    c._ocpp = ocpp
    return c, IsoSession(c, c.cfg.iso15118[0]), ocpp


def _se_req(target_soc: int = 80) -> ScheduleExchangeReqType:
    return ScheduleExchangeReqType(
        Header=hdr(), MaximumSupportingPoints=12,
        Dynamic_SEReqControlMode=Dynamic_SEReqControlModeType(
            DepartureTime=3_600, MinimumSOC=30, TargetSOC=target_soc,
            EVTargetEnergyRequest=r(20_000.0), EVMaximumEnergyRequest=r(40_000.0),
            EVMinimumEnergyRequest=r(5_000.0)))


def _negotiate(iso: IsoSession, c: SessionContext, target_soc: int = 80,
               ongoing: int = 2) -> None:
    """ChargeParameterDiscovery, then ScheduleExchange: `ongoing` times Ongoing (no power
    decision yet), then Finished; every action goes to the station as the SECC does."""
    cpd = AC_ChargeParameterDiscoveryReqType(Header=hdr(), BPT_AC_CPDReqEnergyTransferMode=ac_bpt())
    iso.act(ac_cpd.handle(cpd, c, view(), 0.0).actions)
    for i in range(ongoing):
        out = se.handle(_se_req(target_soc), c, view(), 0.1 * i)
        assert out.response.EVSEProcessing == "Ongoing"
        iso.act(out.actions)
    done = se.handle(_se_req(target_soc), c, view(target_w=5_000.0), 1.0)
    assert done.response.EVSEProcessing == "Finished"
    iso.act(done.actions)


def _v2x(needs: OcppNeeds) -> Any:
    assert needs.v2x_charging_parameters is not None
    return needs.v2x_charging_parameters


def test_K15_one_notify_ev_charging_needs_per_session_with_the_complete_needs() -> None:
    c, iso, ocpp = _session()
    _negotiate(iso, ctx("AC_BPT", "Dynamic"))
    assert len(ocpp.sent) == 1  # not one for ChargeParameterDiscovery and one for the rest
    (needs,) = ocpp.sent
    assert needs.requested_energy_transfer == "AC_BPT"
    assert needs.departure_time is not None  # from ScheduleExchange
    assert _v2x(needs).target_soc == 80 and _v2x(needs).ev_target_energy_request_wh == 20_000.0
    assert _v2x(needs).max_charge_power_w > 0  # from ChargeParameterDiscovery
    ev_limits = c.evses[1].ev_limits  # the energy manager still has the limits at once
    assert isinstance(ev_limits, EvLimits) and ev_limits.max_charge_w > 0


def test_K15_a_resumed_session_with_the_same_needs_sends_none_K17_renegotiation_does() -> None:
    _c, iso, ocpp = _session()
    session = ctx("AC_BPT", "Dynamic")
    _negotiate(iso, session)
    iso.act((SessionEnded("pause", paused=True),))
    # resumed (-20: same SessionID, straight to ChargeParameterDiscovery), same needs
    _negotiate(iso, dataclasses.replace(session, extra={}))
    assert len(ocpp.sent) == 1
    # renegotiation with another SOC target: the CSMS hears the new needs, once
    session.energy_transfer = True
    _negotiate(iso, session, target_soc=90, ongoing=1)
    assert [_v2x(n).target_soc for n in ocpp.sent] == [80, 90]


def test_K15_a_new_session_after_the_end_notifies_again() -> None:
    _c, iso, ocpp = _session()
    _negotiate(iso, ctx("AC_BPT", "Dynamic"))
    iso.act((SessionEnded("terminate"),))
    _negotiate(iso, ctx("AC_BPT", "Dynamic"))
    assert len(ocpp.sent) == 2
