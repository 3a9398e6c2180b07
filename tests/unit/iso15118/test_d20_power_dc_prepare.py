"""DC CableCheck, PreCharge, WeldingDetection (ISO 15118-20 8.3.5.5, IEC 61851-23 insulation
check) with a fake clock."""

from __future__ import annotations

from evse.iso15118.d20 import dc_cable_check as cc
from evse.iso15118.d20 import dc_pre_charge as pc
from evse.iso15118.d20 import dc_welding_detection as wd
from evse.iso15118.d20.rational import to_float
from evse.iso15118.d20.types import DcCommand, EvLimitsKnown
from evse.iso15118.exi._generated.dc_types import (
    DC_CableCheckReqType,
    DC_PreChargeReqType,
    DC_WeldingDetectionReqType,
)
from tests.unit.iso15118.d20_power_rig import actions_of, code, ctx, dc, hdr, r, roundtrip, view


def cable() -> DC_CableCheckReqType:
    return DC_CableCheckReqType(Header=hdr())


def pre(target_v: float = 400.0, processing: str = "Ongoing") -> DC_PreChargeReqType:
    return DC_PreChargeReqType(Header=hdr(), EVProcessing=processing,
                               EVPresentVoltage=r(398.0), EVTargetVoltage=r(target_v))


# --- CableCheck ---


def test_cable_check_first_request_asks_stage_and_is_ongoing_even_with_old_result() -> None:
    c = ctx("DC")
    out = cc.handle(cable(), c, view(dc=dc(isolation="valid")), 0.0)  # a stale "valid"
    assert out.response.EVSEProcessing == "Ongoing" and code(out) == "OK"
    assert actions_of(out, DcCommand) == [DcCommand("cable_check")]
    assert out.next == {"DC_CableCheckReq", "SessionStopReq"}
    roundtrip(out)


def test_cable_check_ongoing_then_valid_finished() -> None:
    c = ctx("DC")
    cc.handle(cable(), c, view(), 0.0)
    mid = cc.handle(cable(), c, view(dc=dc(isolation="ongoing")), 5.0)
    assert mid.response.EVSEProcessing == "Ongoing" and not mid.actions
    done = cc.handle(cable(), c, view(dc=dc(isolation="valid")), 6.0)
    assert done.response.EVSEProcessing == "Finished"
    assert done.next == {"DC_PreChargeReq", "SessionStopReq"}


def test_cable_check_warning_is_finished() -> None:
    c = ctx("DC")
    cc.handle(cable(), c, view(), 0.0)
    assert cc.handle(cable(), c, view(dc=dc(isolation="warning")), 1.0).response.EVSEProcessing \
        == "Finished"


def test_cable_check_fault_failed_and_stage_off() -> None:
    c = ctx("DC")
    cc.handle(cable(), c, view(), 0.0)
    out = cc.handle(cable(), c, view(dc=dc(isolation="fault")), 1.0)
    assert code(out) == "FAILED" and out.next == frozenset()
    assert DcCommand("off") in out.actions
    roundtrip(out)


def test_cable_check_bounded_by_cable_check_s() -> None:
    c = ctx("DC", cable_check_s=40.0)
    cc.handle(cable(), c, view(), 0.0)
    assert code(cc.handle(cable(), c, view(dc=dc(isolation="ongoing")), 39.0)) == "OK"
    out = cc.handle(cable(), c, view(dc=dc(isolation="ongoing")), 41.0)
    assert code(out) == "FAILED" and DcCommand("off") in out.actions


def test_cable_check_unknown_session() -> None:
    out = cc.handle(DC_CableCheckReqType(Header=hdr(b"\x05" * 8)), ctx("DC"), view(), 0.0)
    assert code(out) == "FAILED_UnknownSession" and not out.next


# --- PreCharge ---


def test_precharge_commands_target_and_answers_present_voltage() -> None:
    c = ctx("DC")
    out = pc.handle(pre(400.0), c, view(dc=dc(present_v=120.0)), 0.0)
    assert code(out) == "OK"
    assert actions_of(out, DcCommand) == [DcCommand("precharge", target_v=400.0, target_a=0.0)]
    assert to_float(roundtrip(out).EVSEPresentVoltage) == 120.0
    assert out.next == {"DC_PreChargeReq", "PowerDeliveryReq", "SessionStopReq"}
    again = pc.handle(pre(400.0), c, view(dc=dc(present_v=300.0)), 1.0)
    assert not again.actions  # same target: no new command
    assert to_float(again.response.EVSEPresentVoltage) == 300.0


def test_precharge_finished_leads_to_power_delivery() -> None:
    c = ctx("DC")
    out = pc.handle(pre(400.0, "Finished"), c, view(dc=dc(present_v=399.0)), 0.0)
    assert out.next == {"PowerDeliveryReq", "SessionStopReq"}


def test_precharge_bounded_by_precharge_s() -> None:
    c = ctx("DC", precharge_s=10.0)
    pc.handle(pre(), c, view(), 0.0)
    assert code(pc.handle(pre(), c, view(), 9.0)) == "OK"
    out = pc.handle(pre(), c, view(), 11.0)
    assert code(out) == "FAILED" and out.next == frozenset()
    assert DcCommand("off") in out.actions
    roundtrip(out)


def test_precharge_target_outside_range_wrong_charge_parameter() -> None:
    c = ctx("DC")  # our output: 150..900 V
    assert code(pc.handle(pre(950.0), c, view(), 0.0)) == "FAILED_WrongChargeParameter"
    c2 = ctx("DC")
    c2.ev = EvLimitsKnown(max_charge_w=1.0, max_v=450.0)
    assert code(pc.handle(pre(500.0), c2, view(), 0.0)) == "FAILED_WrongChargeParameter"


def test_precharge_unknown_session() -> None:
    req = pre()
    req.Header.SessionID = b"\x03" * 8
    assert code(pc.handle(req, ctx("DC"), view(), 0.0)) == "FAILED_UnknownSession"


# --- WeldingDetection ---


def test_welding_detection_asks_once_and_answers_welding_voltage() -> None:
    c = ctx("DC")
    req = DC_WeldingDetectionReqType(Header=hdr(), EVProcessing="Ongoing")
    out = wd.handle(req, c, view(dc=dc(present_v=50.0, welding_v=12.0)), 0.0)
    assert actions_of(out, DcCommand) == [DcCommand("welding_check")]
    assert to_float(roundtrip(out).EVSEPresentVoltage) == 12.0
    assert out.next == {"DC_WeldingDetectionReq", "SessionStopReq"}
    again = wd.handle(req, c, view(dc=dc(present_v=3.0)), 1.0)
    assert not again.actions and to_float(again.response.EVSEPresentVoltage) == 3.0
    done = wd.handle(DC_WeldingDetectionReqType(Header=hdr(), EVProcessing="Finished"), c,
                     view(dc=dc(present_v=0.0)), 2.0)
    assert done.next == {"SessionStopReq"}


def test_welding_detection_unknown_session() -> None:
    req = DC_WeldingDetectionReqType(Header=hdr(b"\x01" * 8), EVProcessing="Ongoing")
    out = wd.handle(req, ctx("DC"), view(), 0.0)
    assert code(out) == "FAILED_UnknownSession" and not out.next


def test_cable_check_after_pause_mid_check_starts_anew() -> None:
    """SessionStop(Pause) during the cable check, resume: CPD starts the energy part again,
    so the check is commanded again and its time counts from the new first request."""
    from evse.iso15118.d20 import dc_charge_parameter_discovery as dc_cpd
    from evse.iso15118.exi._generated.dc_types import (
        DC_ChargeParameterDiscoveryReqType,
        DC_CPDReqEnergyTransferModeType,
    )

    c = ctx("DC", cable_check_s=40.0)
    cc.handle(cable(), c, view(), 0.0)  # paused here
    cpd = DC_ChargeParameterDiscoveryReqType(
        Header=hdr(), DC_CPDReqEnergyTransferMode=DC_CPDReqEnergyTransferModeType(
            EVMaximumChargePower=r(1e5), EVMinimumChargePower=r(0.0),
            EVMaximumChargeCurrent=r(200.0), EVMinimumChargeCurrent=r(0.0),
            EVMaximumVoltage=r(450.0), EVMinimumVoltage=r(250.0)))
    assert code(dc_cpd.handle(cpd, c, view(), 300.0)) == "OK"
    again = cc.handle(cable(), c, view(dc=dc(isolation="ongoing")), 301.0)
    assert code(again) == "OK" and DcCommand("cable_check") in again.actions
