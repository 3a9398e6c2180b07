"""AC_ / DC_ChargeLoop (ISO 15118-20 8.3.5.4 / 8.3.5.5): all four control-mode variants,
the target is the station's request capped by hal's constraint in force, answered from
the latest measurement, and a hal constraint change shows in the very next answer."""

from __future__ import annotations

from typing import Any

import pytest

from evse.iso15118.d20 import ac_charge_loop as acl
from evse.iso15118.d20 import dc_charge_loop as dcl
from evse.iso15118.d20.rational import to_float
from evse.iso15118.d20.types import (
    ControlMode,
    DcCommand,
    EnergyTransfer,
    EvLimitsKnown,
    EvStatus,
    ServiceName,
    SessionContext,
)
from evse.iso15118.exi._generated.ac_types import (
    AC_ChargeLoopReqType,
    BPT_Dynamic_AC_CLReqControlModeType,
    BPT_Scheduled_AC_CLReqControlModeType,
    Dynamic_AC_CLReqControlModeType,
    Scheduled_AC_CLReqControlModeType,
)
from evse.iso15118.exi._generated.dc_types import (
    BPT_Dynamic_DC_CLReqControlModeType,
    BPT_Scheduled_DC_CLReqControlModeType,
    DC_ChargeLoopReqType,
    Dynamic_DC_CLReqControlModeType,
    Scheduled_DC_CLReqControlModeType,
)
from evse.iso15118.exi._generated.shared_types import DisplayParametersType
from tests.unit.iso15118.d20_power_rig import actions_of, code, ctx, dc, hdr, r, roundtrip, view

PER = 3_680.0  # one phase at 230 V x 16 A

# --- AC requests ---


def _ac_energy() -> dict[str, Any]:
    return {"EVTargetEnergyRequest": r(20_000.0), "EVMaximumEnergyRequest": r(30_000.0),
            "EVMinimumEnergyRequest": r(1_000.0)}


def _ac_three(name: str, w: float) -> dict[str, Any]:
    return {name: r(w), f"{name}_L2": r(w), f"{name}_L3": r(w)}


def ac_req(service: ServiceName, mode: ControlMode, meter: bool = False,
           one_phase_export: bool = True) -> AC_ChargeLoopReqType:
    present = {"EVPresentActivePower": r(0.0), "EVPresentReactivePower": r(0.0)}
    charge = _ac_three("EVMaximumChargePower", PER) | _ac_three("EVMinimumChargePower", 0.0)
    dis = ({"EVMaximumDischargePower": r(PER), "EVMinimumDischargePower": r(0.0)}
           if one_phase_export else
           _ac_three("EVMaximumDischargePower", PER) | _ac_three("EVMinimumDischargePower", 0.0))
    kw: dict[str, Any] = {}
    if (service, mode) == ("AC", "Scheduled"):
        kw["Scheduled_AC_CLReqControlMode"] = Scheduled_AC_CLReqControlModeType(
            EVPresentActivePower=r(0.0))
    elif (service, mode) == ("AC", "Dynamic"):
        kw["Dynamic_AC_CLReqControlMode"] = Dynamic_AC_CLReqControlModeType(
            **_ac_energy(), **charge, **present)
    elif mode == "Scheduled":
        kw["BPT_Scheduled_AC_CLReqControlMode"] = BPT_Scheduled_AC_CLReqControlModeType(
            EVPresentActivePower=r(0.0))
    else:
        kw["BPT_Dynamic_AC_CLReqControlMode"] = BPT_Dynamic_AC_CLReqControlModeType(
            **_ac_energy(), **charge, **present, **dis)
    return AC_ChargeLoopReqType(Header=hdr(), MeterInfoRequested=meter,
                                DisplayParameters=DisplayParametersType(PresentSOC=55), **kw)


def ac_ctx(service: ServiceName, mode: ControlMode, one_phase_export: bool = True
           ) -> SessionContext:
    c = ctx(service, mode)
    c.extra["ac_phases"] = (3, 1 if one_phase_export else 3)
    c.ev = EvLimitsKnown(max_charge_w=3 * PER, max_discharge_w=PER if one_phase_export
                         else 3 * PER)
    return c


def ac_target(res: Any) -> float:
    for name in ("Scheduled_AC_CLResControlMode", "Dynamic_AC_CLResControlMode",
                 "BPT_Scheduled_AC_CLResControlMode", "BPT_Dynamic_AC_CLResControlMode"):
        m = getattr(res, name)
        if m is not None:
            parts = [m.EVSETargetActivePower, m.EVSETargetActivePower_L2,
                     m.EVSETargetActivePower_L3]
            return sum(to_float(p) for p in parts if p is not None)
    raise AssertionError("no control mode in the answer")


@pytest.mark.parametrize("service", ["AC", "AC_BPT"])
@pytest.mark.parametrize("mode", ["Scheduled", "Dynamic"])
def test_ac_loop_variants_answer_station_target(service: ServiceName, mode: ControlMode) -> None:
    c = ac_ctx(service, mode)
    out = acl.handle(ac_req(service, mode, meter=True), c, view(target_w=6_000.0,
                     present_w=5_900.0, energy_in_wh=1_234.4, energy_out_wh=10.0), 0.0)
    assert code(out) == "OK"
    assert out.next == {"AC_ChargeLoopReq", "PowerDeliveryReq", "SessionStopReq"}
    res = roundtrip(out)
    assert ac_target(res) == pytest.approx(6_000.0, rel=1e-3)
    assert res.MeterInfo.ChargedEnergyReadingWh == 1_234
    assert (res.MeterInfo.BPT_DischargedEnergyReadingWh == 10) == (service == "AC_BPT")
    [status] = actions_of(out, EvStatus)
    assert status.soc == 55


def test_ac_loop_hal_constraint_change_shows_in_very_next_answer() -> None:
    """A droop / trip in hal narrows view.target_w / max_w: the next ChargeLoopRes has it."""
    c = ac_ctx("AC_BPT", "Dynamic")
    first = acl.handle(ac_req("AC_BPT", "Dynamic"), c, view(target_w=9_000.0, max_w=11_000.0), 0.0)
    assert ac_target(first.response) == pytest.approx(9_000.0, rel=1e-3)
    droop = acl.handle(ac_req("AC_BPT", "Dynamic"), c, view(target_w=9_000.0, max_w=2_500.0), 0.1)
    assert ac_target(droop.response) == pytest.approx(2_500.0, rel=1e-3)
    trip = acl.handle(ac_req("AC_BPT", "Dynamic"), c,
                      view(target_w=9_000.0, grid_state="tripped"), 0.2)
    assert ac_target(trip.response) == 0.0
    lmd = acl.handle(ac_req("AC_BPT", "Dynamic"), c,
                     view(target_w=-3_000.0, min_w=-1_000.0), 0.3)  # limit-max-discharge
    assert ac_target(lmd.response) == pytest.approx(-1_000.0, rel=1e-3)


def test_ac_discharge_target_scaled_by_export_phases() -> None:
    """Field lesson: 3 import phases, 1 export phase -> at most 3.68 kW back, on L1."""
    c = ac_ctx("AC_BPT", "Dynamic", one_phase_export=True)
    out = acl.handle(ac_req("AC_BPT", "Dynamic"), c, view(target_w=-11_000.0, min_w=-11_000.0),
                     0.0)
    m = roundtrip(out).BPT_Dynamic_AC_CLResControlMode
    assert to_float(m.EVSETargetActivePower) == pytest.approx(-PER)
    assert m.EVSETargetActivePower_L2 is None and m.EVSETargetActivePower_L3 is None


def test_ac_discharge_needs_q01_and_bpt() -> None:
    c = ac_ctx("AC_BPT", "Dynamic")
    out = acl.handle(ac_req("AC_BPT", "Dynamic"), c,
                     view(target_w=-2_000.0, may_discharge=False), 0.0)
    assert ac_target(out.response) == 0.0
    plain = ac_ctx("AC", "Dynamic")
    out2 = acl.handle(ac_req("AC", "Dynamic"), plain, view(target_w=-2_000.0), 0.0)
    assert ac_target(out2.response) == 0.0


@pytest.mark.parametrize(("stop", "pause", "note"), [(True, False, "Terminate"),
                                                     (False, True, "Pause")])
def test_ac_evse_notification_from_station(stop: bool, pause: bool, note: str) -> None:
    c = ac_ctx("AC", "Dynamic")
    out = acl.handle(ac_req("AC", "Dynamic"), c,
                     view(target_w=5_000.0, stop_requested=stop, pause_requested=pause), 0.0)
    res = roundtrip(out)
    assert res.EVSEStatus.EVSENotification == note
    assert res.EVSEStatus.NotificationMaxDelay == c.config.notification_max_delay_s


def test_ac_no_decision_yet_is_zero() -> None:
    out = acl.handle(ac_req("AC", "Dynamic"), ac_ctx("AC", "Dynamic"), view(target_w=None), 0.0)
    assert ac_target(out.response) == 0.0


def test_ac_wrong_variant_failed_and_transfer_stops() -> None:
    c = ac_ctx("AC", "Dynamic")
    out = acl.handle(ac_req("AC_BPT", "Dynamic"), c, view(target_w=1.0), 0.0)
    assert code(out) == "FAILED" and out.next == frozenset()
    assert EnergyTransfer(start=False) in out.actions
    roundtrip(out)


def test_ac_unknown_session() -> None:
    req = ac_req("AC", "Dynamic")
    req.Header.SessionID = b"\x04" * 8
    assert code(acl.handle(req, ac_ctx("AC", "Dynamic"), view(), 0.0)) == "FAILED_UnknownSession"


# --- DC requests ---


def dc_req(service: ServiceName, mode: ControlMode, target_a: float = 100.0,
           target_v: float = 400.0, ev_v: float = 400.0) -> DC_ChargeLoopReqType:
    energy = _ac_energy()
    limits = {"EVMaximumChargePower": r(150_000.0), "EVMinimumChargePower": r(0.0),
              "EVMaximumChargeCurrent": r(300.0), "EVMaximumVoltage": r(450.0),
              "EVMinimumVoltage": r(250.0)}
    dis = {"EVMaximumDischargePower": r(10_000.0), "EVMinimumDischargePower": r(0.0),
           "EVMaximumDischargeCurrent": r(25.0)}
    targets = {"EVTargetCurrent": r(target_a), "EVTargetVoltage": r(target_v)}
    kw: dict[str, Any] = {}
    if (service, mode) == ("DC", "Scheduled"):
        kw["Scheduled_DC_CLReqControlMode"] = Scheduled_DC_CLReqControlModeType(**targets)
    elif (service, mode) == ("DC", "Dynamic"):
        kw["Dynamic_DC_CLReqControlMode"] = Dynamic_DC_CLReqControlModeType(**energy, **limits)
    elif mode == "Scheduled":
        kw["BPT_Scheduled_DC_CLReqControlMode"] = BPT_Scheduled_DC_CLReqControlModeType(**targets)
    else:
        kw["BPT_Dynamic_DC_CLReqControlMode"] = BPT_Dynamic_DC_CLReqControlModeType(
            **energy, **limits, **dis)
    return DC_ChargeLoopReqType(Header=hdr(), MeterInfoRequested=False,
                                EVPresentVoltage=r(ev_v),
                                DisplayParameters=DisplayParametersType(PresentSOC=42), **kw)


def dc_ctx(service: ServiceName, mode: ControlMode) -> SessionContext:
    c = ctx(service, mode)
    c.ev = EvLimitsKnown(max_charge_w=150_000.0, max_discharge_w=10_000.0, max_charge_a=300.0,
                         max_discharge_a=25.0, max_v=450.0, min_v=250.0)
    return c


def deliver(out: Any) -> DcCommand:
    [cmd] = actions_of(out, DcCommand)
    assert cmd.kind == "deliver"
    return cmd


@pytest.mark.parametrize("service", ["DC", "DC_BPT"])
@pytest.mark.parametrize("mode", ["Scheduled", "Dynamic"])
def test_dc_loop_variants(service: ServiceName, mode: ControlMode) -> None:
    c = dc_ctx(service, mode)
    out = dcl.handle(dc_req(service, mode, target_a=40.0), c,
                     view(target_w=20_000.0, dc=dc(present_v=401.0, present_a=49.5)), 0.0)
    assert code(out) == "OK"
    assert out.next == {"DC_ChargeLoopReq", "PowerDeliveryReq", "SessionStopReq"}
    res = roundtrip(out)
    assert to_float(res.EVSEPresentVoltage) == 401.0 and to_float(res.EVSEPresentCurrent) == 49.5
    cmd = deliver(out)
    if mode == "Scheduled":
        assert (cmd.target_v, cmd.target_a) == (400.0, 40.0)  # inside 20 kW at 401 V
    else:
        assert cmd.target_a == pytest.approx(20_000.0 / 401.0)
    [status] = actions_of(out, EvStatus)
    assert status.soc == 42 and status.present_v == 400.0


def test_dc_scheduled_current_cut_to_station_power() -> None:
    c = dc_ctx("DC", "Scheduled")
    out = dcl.handle(dc_req("DC", "Scheduled", target_a=200.0), c,
                     view(target_w=20_000.0, dc=dc(present_v=400.0)), 0.0)
    assert deliver(out).target_a == pytest.approx(50.0)
    assert out.response.EVSEPowerLimitAchieved is True


def test_dc_scheduled_current_cut_to_our_current_limit() -> None:
    c = dc_ctx("DC", "Scheduled")  # 125 A max
    out = dcl.handle(dc_req("DC", "Scheduled", target_a=200.0, target_v=300.0, ev_v=300.0), c,
                     view(target_w=50_000.0, dc=dc(present_v=300.0)), 0.0)
    assert deliver(out).target_a == pytest.approx(125.0)  # 50 kW at 300 V would be 167 A
    assert out.response.EVSEPowerLimitAchieved is False
    assert out.response.EVSECurrentLimitAchieved is True


def test_dc_hal_constraint_change_shows_in_very_next_answer() -> None:
    c = dc_ctx("DC_BPT", "Dynamic")
    v = {"dc": dc(present_v=400.0)}
    a = dcl.handle(dc_req("DC_BPT", "Dynamic"), c, view(target_w=-8_000.0, **v), 0.0)
    m = a.response.BPT_Dynamic_DC_CLResControlMode
    assert to_float(m.EVSEMaximumDischargePower) == 8_000.0
    assert deliver(a).target_a == pytest.approx(-20.0)
    b = dcl.handle(dc_req("DC_BPT", "Dynamic"), c,
                   view(target_w=-8_000.0, min_w=-2_000.0, **v), 0.1)  # limit-max-discharge
    assert to_float(b.response.BPT_Dynamic_DC_CLResControlMode.EVSEMaximumDischargePower) \
        == 2_000.0
    assert deliver(b).target_a == pytest.approx(-5.0)
    t = dcl.handle(dc_req("DC_BPT", "Dynamic"), c,
                   view(target_w=-8_000.0, grid_state="ceased", **v), 0.2)
    assert deliver(t).target_a == 0.0


def test_dc_wrong_variant_failed_and_stage_off() -> None:
    out = dcl.handle(dc_req("DC", "Dynamic"), dc_ctx("DC", "Scheduled"), view(), 0.0)
    assert code(out) == "FAILED" and not out.next
    assert DcCommand("off") in out.actions and EnergyTransfer(start=False) in out.actions
    roundtrip(out)


def test_dc_evse_notification_terminate() -> None:
    out = dcl.handle(dc_req("DC", "Dynamic"), dc_ctx("DC", "Dynamic"),
                     view(target_w=10_000.0, stop_requested=True), 0.0)
    assert roundtrip(out).EVSEStatus.EVSENotification == "Terminate"
    assert deliver(out).target_a == 0.0


def test_dc_unknown_session() -> None:
    req = dc_req("DC", "Dynamic")
    req.Header.SessionID = b"\x06" * 8
    assert code(dcl.handle(req, dc_ctx("DC", "Dynamic"), view(), 0.0)) == "FAILED_UnknownSession"


def test_dc_bpt_scheduled_discharge_capped_by_station_and_hal() -> None:
    c = dc_ctx("DC_BPT", "Scheduled")
    v = {"dc": dc(present_v=400.0)}
    out = dcl.handle(dc_req("DC_BPT", "Scheduled", target_a=-20.0), c,
                     view(target_w=-4_000.0, **v), 0.0)
    assert deliver(out).target_a == pytest.approx(-10.0)  # 4 kW at 400 V
    m = roundtrip(out).BPT_Scheduled_DC_CLResControlMode
    assert to_float(m.EVSEMaximumDischargePower) == 4_000.0
    assert out.response.EVSEPowerLimitAchieved is True
    trip = dcl.handle(dc_req("DC_BPT", "Scheduled", target_a=-20.0), c,
                      view(target_w=-4_000.0, grid_state="tripped", **v), 0.1)
    assert deliver(trip).target_a == 0.0
