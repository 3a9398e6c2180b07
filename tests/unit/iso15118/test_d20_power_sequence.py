"""The energy handlers chained as a session would run them (ISO 15118-20 message
sequence, DC and AC): each request is one the previous outcome's `next` allows, every
answer encodes, and the actions tell the station what to do in order."""

from __future__ import annotations

from typing import Any

from evse.iso15118.d20.power_registry import POWER_HANDLERS
from evse.iso15118.d20.types import (
    DcCommand,
    DcState,
    EnergyTransfer,
    EvLimitsKnown,
    EvNeeds,
    Outcome,
    SessionContext,
    StationView,
)
from evse.iso15118.exi._generated.ac_types import (
    AC_ChargeLoopReqType,
    AC_ChargeParameterDiscoveryReqType,
    AC_CPDReqEnergyTransferModeType,
    Dynamic_AC_CLReqControlModeType,
)
from evse.iso15118.exi._generated.common_types import (
    Dynamic_EVPPTControlModeType,
    Dynamic_SEReqControlModeType,
    EVPowerProfileEntryListType,
    EVPowerProfileType,
    PowerDeliveryReqType,
    PowerScheduleEntryType,
    ScheduleExchangeReqType,
)
from evse.iso15118.exi._generated.dc_types import (
    DC_CableCheckReqType,
    DC_ChargeLoopReqType,
    DC_ChargeParameterDiscoveryReqType,
    DC_CPDReqEnergyTransferModeType,
    DC_PreChargeReqType,
    DC_WeldingDetectionReqType,
    Dynamic_DC_CLReqControlModeType,
)
from tests.unit.iso15118.d20_power_rig import code, ctx, dc, hdr, r, roundtrip, view

BY_REQUEST = {m.REQUEST: m for m in POWER_HANDLERS}


def step(name: str, req: Any, c: SessionContext, v: StationView, now: float,
         allowed: frozenset[str] | None) -> Outcome:
    if allowed is not None:
        assert name in allowed, f"{name} not allowed after {sorted(allowed)}"
    out: Outcome = BY_REQUEST[name].handle(req, c, v, now)
    assert code(out) == "OK", (name, code(out))
    roundtrip(out)
    return out


def _energy() -> dict[str, Any]:
    return {"EVTargetEnergyRequest": r(20_000.0), "EVMaximumEnergyRequest": r(30_000.0),
            "EVMinimumEnergyRequest": r(1_000.0)}


def _se() -> ScheduleExchangeReqType:
    return ScheduleExchangeReqType(
        Header=hdr(), MaximumSupportingPoints=24,
        Dynamic_SEReqControlMode=Dynamic_SEReqControlModeType(DepartureTime=3_600, **_energy()))


def _pd(progress: str) -> PowerDeliveryReqType:
    prof = EVPowerProfileType(
        TimeAnchor=0, Dynamic_EVPPTControlMode=Dynamic_EVPPTControlModeType(),
        EVPowerProfileEntries=EVPowerProfileEntryListType(
            EVPowerProfileEntry=[PowerScheduleEntryType(Duration=60, Power=r(0.0))]))
    return PowerDeliveryReqType(Header=hdr(), EVProcessing="Finished",
                                ChargeProgress=progress,  # type: ignore[arg-type]
                                EVPowerProfile=prof)


def test_registry_lists_every_energy_request_once() -> None:
    assert set(BY_REQUEST) == {
        "AC_ChargeParameterDiscoveryReq", "DC_ChargeParameterDiscoveryReq",
        "ScheduleExchangeReq", "DC_CableCheckReq", "DC_PreChargeReq", "PowerDeliveryReq",
        "AC_ChargeLoopReq", "DC_ChargeLoopReq", "DC_WeldingDetectionReq"}
    assert len(POWER_HANDLERS) == len(BY_REQUEST)


def test_dc_dynamic_session_in_order() -> None:
    c = ctx("DC", "Dynamic")
    v = view(target_w=20_000.0)
    cpd = DC_ChargeParameterDiscoveryReqType(
        Header=hdr(), DC_CPDReqEnergyTransferMode=DC_CPDReqEnergyTransferModeType(
            EVMaximumChargePower=r(150_000.0), EVMinimumChargePower=r(0.0),
            EVMaximumChargeCurrent=r(300.0), EVMinimumChargeCurrent=r(0.0),
            EVMaximumVoltage=r(450.0), EVMinimumVoltage=r(250.0)))
    out = step("DC_ChargeParameterDiscoveryReq", cpd, c, v, 0.0, None)
    assert any(isinstance(a, EvNeeds) for a in out.actions)
    out = step("ScheduleExchangeReq", _se(), c, v, 1.0, out.next)
    cable = DC_CableCheckReqType(Header=hdr())
    out = step("DC_CableCheckReq", cable, c, v, 2.0, out.next)
    assert DcCommand("cable_check") in out.actions
    out = step("DC_CableCheckReq", cable, c, view(target_w=2e4, dc=dc(isolation="valid")), 3.0,
               out.next)
    pre = DC_PreChargeReqType(Header=hdr(), EVProcessing="Ongoing", EVPresentVoltage=r(360.0),
                              EVTargetVoltage=r(360.0))
    out = step("DC_PreChargeReq", pre, c, view(dc=DcState(present_v=200.0)), 4.0, out.next)
    out = step("PowerDeliveryReq", _pd("Start"), c, v, 5.0, out.next)
    assert EnergyTransfer(start=True) in out.actions
    loop = DC_ChargeLoopReqType(
        Header=hdr(), MeterInfoRequested=True, EVPresentVoltage=r(360.0),
        Dynamic_DC_CLReqControlMode=Dynamic_DC_CLReqControlModeType(
            **_energy(), EVMaximumChargePower=r(150_000.0), EVMinimumChargePower=r(0.0),
            EVMaximumChargeCurrent=r(300.0), EVMaximumVoltage=r(450.0),
            EVMinimumVoltage=r(250.0)))
    for i in range(3):
        out = step("DC_ChargeLoopReq", loop, c, v, 6.0 + i, out.next)
    out = step("PowerDeliveryReq", _pd("Stop"), c, v, 10.0, out.next)
    weld = DC_WeldingDetectionReqType(Header=hdr(), EVProcessing="Finished")
    out = step("DC_WeldingDetectionReq", weld, c, v, 11.0, out.next)
    assert out.next == {"SessionStopReq"}


def test_ac_dynamic_session_in_order() -> None:
    c = ctx("AC", "Dynamic")
    c.ev = EvLimitsKnown(max_charge_w=11_000.0)
    v = view(target_w=7_000.0, present_w=6_950.0)
    per = r(3_680.0)
    cpd = AC_ChargeParameterDiscoveryReqType(
        Header=hdr(), AC_CPDReqEnergyTransferMode=AC_CPDReqEnergyTransferModeType(
            EVMaximumChargePower=per, EVMaximumChargePower_L2=per, EVMaximumChargePower_L3=per,
            EVMinimumChargePower=r(1_400.0)))
    out = step("AC_ChargeParameterDiscoveryReq", cpd, c, v, 0.0, None)
    out = step("ScheduleExchangeReq", _se(), c, v, 1.0, out.next)
    out = step("PowerDeliveryReq", _pd("Start"), c, v, 2.0, out.next)
    loop = AC_ChargeLoopReqType(
        Header=hdr(), MeterInfoRequested=False,
        Dynamic_AC_CLReqControlMode=Dynamic_AC_CLReqControlModeType(
            **_energy(), EVMaximumChargePower=per, EVMaximumChargePower_L2=per,
            EVMaximumChargePower_L3=per, EVMinimumChargePower=r(0.0),
            EVPresentActivePower=r(6_950.0), EVPresentReactivePower=r(0.0)))
    out = step("AC_ChargeLoopReq", loop, c, v, 3.0, out.next)
    out = step("PowerDeliveryReq", _pd("Stop"), c, v, 4.0, out.next)
    assert out.next == {"SessionStopReq"}
