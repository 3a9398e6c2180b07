"""AC_ChargeParameterDiscoveryReq: the car's AC limits in, ours out (BPT adds discharge).

[V2G20-1619] parameters that do not fit the selected service (BPT set for AC, plain set
for AC_BPT, none at all) or that contradict themselves: FAILED_WrongChargeParameter.
Our limits are SeccConfig.limits, each direction scaled by its own phases, discharge
narrowed to zero unless OCPP Q01 allows it (view.may_discharge).
"""

from __future__ import annotations

from typing import Any

from evse.iso15118.d20.power_common import (
    ZERO,
    Code,
    ac_split,
    charge_limit_w,
    discharge_limit_w,
    end_phases,
    fl,
    rn,
    session_ok,
)
from evse.iso15118.d20.types import (
    EvLimitsKnown,
    EvNeeds,
    Outcome,
    SessionContext,
    StationView,
    header,
)
from evse.iso15118.exi._generated.ac_types import (
    AC_ChargeParameterDiscoveryReqType,
    AC_ChargeParameterDiscoveryResType,
    AC_CPDReqEnergyTransferModeType,
    AC_CPDResEnergyTransferModeType,
    BPT_AC_CPDReqEnergyTransferModeType,
    BPT_AC_CPDResEnergyTransferModeType,
)
from evse.iso15118.exi._generated.shared_types import RationalNumberType

REQUEST = "AC_ChargeParameterDiscoveryReq"
RESPONSE = "AC_ChargeParameterDiscoveryRes"
NOMINAL_HZ = 50.0


def _failed(ctx: SessionContext, view: StationView, code: Code) -> Outcome:
    """The schema wants a parameter set even in a failure: zeros."""
    zero: dict[str, Any] = {"EVSEMaximumChargePower": ZERO, "EVSEMinimumChargePower": ZERO,
            "EVSENominalFrequency": rn(NOMINAL_HZ)}
    if ctx.service == "AC_BPT":
        res = AC_ChargeParameterDiscoveryResType(
            Header=header(ctx, view), ResponseCode=code,
            BPT_AC_CPDResEnergyTransferMode=BPT_AC_CPDResEnergyTransferModeType(
                **zero, EVSEMaximumDischargePower=ZERO, EVSEMinimumDischargePower=ZERO))
    else:
        res = AC_ChargeParameterDiscoveryResType(
            Header=header(ctx, view), ResponseCode=code,
            AC_CPDResEnergyTransferMode=AC_CPDResEnergyTransferModeType(**zero))
    return Outcome(RESPONSE, res, "ac", frozenset())


def _sum(*parts: RationalNumberType | None) -> float:
    """Total over phases: L1 (or the total when single-phase) + L2 + L3 when given."""
    return sum(abs(fl(p) or 0.0) for p in parts)


def _phases(l2: RationalNumberType | None, l3: RationalNumberType | None) -> int:
    return 1 + (l2 is not None) + (l3 is not None)


def handle(
    req: AC_ChargeParameterDiscoveryReqType, ctx: SessionContext, view: StationView, now: float
) -> Outcome:
    if not session_ok(req, ctx):
        return _failed(ctx, view, "FAILED_UnknownSession")
    if ctx.service is None or ctx.control_mode is None:  # no ServiceSelection yet
        return _failed(ctx, view, "FAILED_SequenceError")
    end_phases(ctx)  # a new (or resumed) energy part: no leftovers of an earlier one
    m: AC_CPDReqEnergyTransferModeType | BPT_AC_CPDReqEnergyTransferModeType
    bpt = req.BPT_AC_CPDReqEnergyTransferMode
    plain = req.AC_CPDReqEnergyTransferMode
    if ctx.service == "AC_BPT" and bpt is not None:
        m = bpt
        dis_max = _sum(bpt.EVMaximumDischargePower, bpt.EVMaximumDischargePower_L2,
                       bpt.EVMaximumDischargePower_L3)
        dis_min = _sum(bpt.EVMinimumDischargePower, bpt.EVMinimumDischargePower_L2,
                       bpt.EVMinimumDischargePower_L3)
        dis_phases = _phases(bpt.EVMaximumDischargePower_L2, bpt.EVMaximumDischargePower_L3)
    elif ctx.service == "AC" and plain is not None:
        m, dis_max, dis_min, dis_phases = plain, 0.0, 0.0, 1
    else:  # [V2G20-1619] the set does not match the selected service
        return _failed(ctx, view, "FAILED_WrongChargeParameter")
    ch_max = _sum(m.EVMaximumChargePower, m.EVMaximumChargePower_L2, m.EVMaximumChargePower_L3)
    ch_min = _sum(m.EVMinimumChargePower, m.EVMinimumChargePower_L2, m.EVMinimumChargePower_L3)
    if ch_min > ch_max or dis_min > dis_max:  # [V2G20-1619] self-contradicting limits
        return _failed(ctx, view, "FAILED_WrongChargeParameter")
    ch_phases = _phases(m.EVMaximumChargePower_L2, m.EVMaximumChargePower_L3)
    ctx.extra["ac_phases"] = (ch_phases, dis_phases)
    ctx.ev = EvLimitsKnown(max_charge_w=ch_max, min_charge_w=ch_min,
                           max_discharge_w=dis_max, min_discharge_w=dis_min)
    ch1, ch2, ch3 = ac_split(charge_limit_w(ctx), ch_phases)
    charge: dict[str, Any] = {
        "EVSEMaximumChargePower": ch1, "EVSEMaximumChargePower_L2": ch2,
        "EVSEMaximumChargePower_L3": ch3, "EVSEMinimumChargePower": ZERO,
        "EVSENominalFrequency": rn(NOMINAL_HZ),
        "EVSEPresentActivePower": rn(view.present_w) if view.present_w is not None else None,
    }
    if bpt is not None:
        d1, d2, d3 = ac_split(discharge_limit_w(ctx, view), dis_phases)
        res = AC_ChargeParameterDiscoveryResType(
            Header=header(ctx, view), ResponseCode="OK",
            BPT_AC_CPDResEnergyTransferMode=BPT_AC_CPDResEnergyTransferModeType(
                **charge, EVSEMaximumDischargePower=d1, EVSEMaximumDischargePower_L2=d2,
                EVSEMaximumDischargePower_L3=d3, EVSEMinimumDischargePower=ZERO))
    else:
        res = AC_ChargeParameterDiscoveryResType(
            Header=header(ctx, view), ResponseCode="OK",
            AC_CPDResEnergyTransferMode=AC_CPDResEnergyTransferModeType(**charge))
    needs = EvNeeds(service=ctx.service, control_mode=ctx.control_mode, limits=ctx.ev)
    return Outcome(RESPONSE, res, "ac", frozenset({"ScheduleExchangeReq", "SessionStopReq"}),
                   (needs,))
