"""The SECC's station side (`evse/station/iso_session.py`) on a real, unstarted
Controller: the StationView comes from hal's latest reports and the energy decision
(within hal's allowed range), and the session's actions land where they belong."""

from __future__ import annotations

import asyncio
import time
import tomllib
from pathlib import Path

import pytest

from evse.config import parse_station
from evse.controller import Controller, EvseView
from evse.energy.manager import EvLimits
from evse.iso15118.d20.types import (
    EnergyTransfer,
    EvLimitsKnown,
    EvNeeds,
    EvStatus,
    SessionEnded,
    StartAuthorization,
)
from evse.station.iso_session import IsoSession
from hal.protocol import GridConstraintReport, Measurement, PowerRequest
from tests.conftest import ROOT

SIM = ROOT / "config" / "sim.toml"


def _controller(ocpp: bool = False, duty: float = 5.0) -> Controller:
    data = tomllib.loads(SIM.read_text())
    data["controller"]["pwm_duty_pct"] = duty
    data["iso15118"] = [{"evse": 1, "interface": "eth1", "evseid": "DE*ABC*E1"}]
    cfg = parse_station(data, SIM)
    c = Controller(cfg, request_w=6000.0)
    c.free_vend = not ocpp
    view = c._view(1)  # as hal's welcome makes it: an ISO 15118 EVSE starts gated
    view.max_charge_w = view.max_discharge_w = 11000.0
    return c


def _measure(cp: str = "B", w: float = 0.0) -> Measurement:
    return Measurement(
        evse_id=1,
        voltage_v=[231.0, 230.0, 229.0],
        frequency_hz=50.0,
        active_w=w,
        reactive_var=0.0,
        setpoint_w=w,
        requested_w=w,
        import_wh=1000.0,
        export_wh=5.0,
        cp_state=cp,
        contactor_closed=cp == "C",
        energy_valid=True,
        grid_valid=True,
    )


def test_view_from_hal_reports_target_capped_by_the_constraint_in_force() -> None:
    c = _controller()
    iso = IsoSession(c, c.cfg.iso15118[0])
    c.evses[1].measurement = _measure("C", 5000.0)
    c._sent_request[1] = PowerRequest(1, "setpoint", 6000.0, 0.0, 6000.0)
    c.evses[1].constraint = GridConstraintReport(1, "normal", -3000.0, 4000.0, 0.0)
    v = iso.view()
    assert v.target_w == 4000.0  # the request, within hal's allowed range
    assert (v.min_w, v.max_w, v.grid_state) == (-3000.0, 4000.0, "normal")
    assert (v.present_w, v.present_v, v.energy_in_wh, v.contactor_closed) == (
        5000.0,
        231.0,
        1000.0,
        True,
    )
    assert v.authorization == "accepted"  # free vend
    assert not v.may_discharge  # OCPP Q01 has not allowed discharge
    c.v2x = lambda eid: True
    assert iso.view().may_discharge


def test_with_a_csms_authorization_is_pending_until_ocpp_answers() -> None:
    c = _controller(ocpp=True)
    iso = IsoSession(c, c.cfg.iso15118[0])
    assert iso.view().authorization == "none"
    iso.act((StartAuthorization("EIM"),))
    assert iso.view().authorization == "pending"
    c.evses[1].id_status = "Invalid"
    assert iso.view().authorization == "rejected"
    # PowerDelivery Start without authorization: no power
    allowed: list[bool] = []
    gate = lambda eid, on, reason, duty=None: allowed.append(on)  # noqa: E731
    c.set_power_gate = gate  # type: ignore[method-assign]
    iso.act((EnergyTransfer(start=True),))
    assert allowed == [False]


def test_energy_transfer_and_the_end_of_the_session_drive_allow_power_on() -> None:
    c = _controller()
    iso = IsoSession(c, c.cfg.iso15118[0])
    iso.act((EnergyTransfer(start=True),))
    assert c.evses[1].gate and iso.energy_transfer
    needs = EvNeeds(
        "DC_BPT", "Dynamic", EvLimitsKnown(max_charge_w=50000.0, max_discharge_w=7000.0)
    )
    iso.act((needs,))
    assert c.evses[1].ev_limits == EvLimits(11000.0, 7000.0)  # never above the unit's
    iso.act((SessionEnded("terminate"),))
    assert not c.evses[1].gate and not iso.energy_transfer
    assert c.evses[1].ev_limits is None


@pytest.mark.parametrize(
    ("duty", "cp", "wanted"),
    [(5.0, "B", True), (5.0, "C", True), (5.0, "A", False), (10.0, "B", False)],
)
def test_secc_wanted_at_5_percent_duty_with_an_ev_connected_IEC_61851_1(
    duty: float, cp: str, wanted: bool
) -> None:
    c = _controller(duty=duty)
    c.evses[1].measurement = _measure(cp)
    assert IsoSession(c, c.cfg.iso15118[0]).wanted() is wanted


def test_no_link_no_secc(tmp_path: Path) -> None:
    data = tomllib.loads(SIM.read_text())
    data["controller"]["pwm_duty_pct"] = 5.0
    data["iso15118"] = [
        {"evse": 1, "interface": "eth1", "evseid": "DE*ABC*E1", "assume_link": False}
    ]
    c = Controller(parse_station(data, SIM))
    c.evses[1] = EvseView(1, measurement=_measure("B"))
    assert not IsoSession(c, c.cfg.iso15118[0]).wanted()


def test_dc_commands_go_to_hal_and_hal_dc_report_is_the_view() -> None:
    """ISO 15118-20 DC (CableCheck, PreCharge, ChargeLoop, WeldingDetection): each
    DcCommand goes to hal as `dc_command`; hal's `dc_report` is the next view's `dc`."""
    from evse.iso15118.d20.types import DcCommand
    from hal.protocol import DcCommand as HalDcCommand
    from hal.protocol import DcReport, Message

    c = _controller()
    sent: list[Message] = []
    c.hal.send = sent.append  # type: ignore[method-assign]
    iso = IsoSession(c, c.cfg.iso15118[0])
    iso.act((DcCommand("precharge", target_v=360.0, target_a=0.0),))
    assert sent == [HalDcCommand(1, "precharge", 360.0, 0.0)]
    assert iso.view().dc is None  # nothing reported yet
    c._on_message(DcReport(1, "precharge", 359.0, 0.0, "valid", True))
    dc = iso.view().dc
    assert dc is not None and (dc.present_v, dc.isolation, dc.precharge_done) == (
        359.0, "valid", True)
    iso.act((SessionEnded("terminate"),))  # safety: the output goes off with the session
    assert sent[-1] == HalDcCommand(1, "off", 0.0, 0.0)


def test_free_vend_iso_evse_gets_power_only_between_power_delivery_start_and_stop() -> None:
    """-20 PowerDelivery decides when energy flows: free vend alone (no CSMS) must not
    close the contactor of an EVSE whose car talks ISO 15118 before PowerDelivery Start."""
    from hal.protocol import AllowPowerOn, Message

    c = _controller()
    sent: list[Message] = []
    c.hal.send = sent.append  # type: ignore[method-assign]
    iso = IsoSession(c, c.cfg.iso15118[0])

    def allow() -> bool:
        return [m for m in sent if isinstance(m, AllowPowerOn)][-1].allow

    c._send_pilot_and_allow(1, "connect")
    assert not allow()
    iso.act((EnergyTransfer(start=True),))
    assert allow()
    iso.act((EnergyTransfer(start=False),))
    assert not allow()


def test_the_cars_session_data_lands_on_the_evse_view_for_the_status() -> None:
    """Issue 12 / MQTT status: SOC, target SOC, departure, the car's limits, service,
    control mode and stage of a running -20 session; gone when the EV leaves."""
    c = _controller()
    iso = IsoSession(c, c.cfg.iso15118[0])
    view = c.evses[1]
    assert view.ev is None
    iso._answered("supportedAppProtocolReq", 0.001)
    assert view.ev is not None and view.ev.stage == "setup"
    limits = EvLimitsKnown(max_charge_w=9000.0, max_discharge_w=4000.0)
    before = time.time()
    iso.act((EvNeeds("AC_BPT", "Dynamic", limits, departure_time_s=3600, target_soc=80,
                     min_soc=20),))
    iso._answered("ScheduleExchangeReq", 0.001)
    ev = view.ev
    assert (ev.service, ev.control_mode, ev.stage) == ("AC_BPT", "Dynamic", "schedule_exchange")
    assert (ev.max_charge_w, ev.max_discharge_w, ev.target_soc_pct, ev.min_soc_pct) == (
        9000.0, 4000.0, 80, 20)
    assert ev.departure_epoch_s is not None
    assert int(before) + 3600 <= ev.departure_epoch_s <= time.time() + 3600
    for soc in (41, 42):
        iso.act((EvStatus(soc=soc, target_soc=85, departure_time_s=1800),))
        iso._answered("AC_ChargeLoopReq", 0.001)
    ev = view.ev
    assert (ev.stage, ev.soc_pct, ev.target_soc_pct) == ("charge_loop", 42, 85)
    assert ev.departure_epoch_s is not None and ev.departure_epoch_s <= time.time() + 1800
    iso.act((SessionEnded("terminate"),))
    iso._answered("SessionStopReq", 0.001)  # the answer goes out after the session ended
    assert (view.ev.stage, view.ev.end_reason, view.ev.soc_pct) == ("ended", "terminate", 42)
    asyncio.run(iso._stop_secc())  # the EV left
    assert view.ev is None
