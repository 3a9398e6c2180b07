"""DC_ChargeParameterDiscoveryReq: the car's DC limits in, ours out (BPT adds discharge).

[V2G20-2272] a parameter set that does not fit the selected service, limits that
contradict themselves, or a voltage range that does not meet ours:
FAILED_WrongChargeParameter. Our limits: SeccConfig.limits, discharge narrowed to zero
unless OCPP Q01 allows it (view.may_discharge).
"""

from __future__ import annotations

from evse.iso15118.d20.power_common import (
    ZERO,
    Code,
    charge_limit_w,
    discharge_limit_w,
    end_phases,
    fl,
    mag,
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
from evse.iso15118.exi._generated.dc_types import (
    BPT_DC_CPDReqEnergyTransferModeType,
    BPT_DC_CPDResEnergyTransferModeType,
    DC_ChargeParameterDiscoveryReqType,
    DC_ChargeParameterDiscoveryResType,
    DC_CPDReqEnergyTransferModeType,
    DC_CPDResEnergyTransferModeType,
)

REQUEST = "DC_ChargeParameterDiscoveryReq"
RESPONSE = "DC_ChargeParameterDiscoveryRes"
_CHARGE_FIELDS = (
    "EVSEMaximumChargePower", "EVSEMinimumChargePower", "EVSEMaximumChargeCurrent",
    "EVSEMinimumChargeCurrent", "EVSEMaximumVoltage", "EVSEMinimumVoltage",
)


def _failed(ctx: SessionContext, view: StationView, code: Code) -> Outcome:
    """The schema wants a parameter set even in a failure: zeros."""
    zero = dict.fromkeys(_CHARGE_FIELDS, ZERO)
    if ctx.service == "DC_BPT":
        res = DC_ChargeParameterDiscoveryResType(
            Header=header(ctx, view), ResponseCode=code,
            BPT_DC_CPDResEnergyTransferMode=BPT_DC_CPDResEnergyTransferModeType(
                **zero, EVSEMaximumDischargePower=ZERO, EVSEMinimumDischargePower=ZERO,
                EVSEMaximumDischargeCurrent=ZERO, EVSEMinimumDischargeCurrent=ZERO))
    else:
        res = DC_ChargeParameterDiscoveryResType(
            Header=header(ctx, view), ResponseCode=code,
            DC_CPDResEnergyTransferMode=DC_CPDResEnergyTransferModeType(**zero))
    return Outcome(RESPONSE, res, "dc", frozenset())


def _ev_limits(
    m: DC_CPDReqEnergyTransferModeType | BPT_DC_CPDReqEnergyTransferModeType,
) -> EvLimitsKnown:
    dis_max = dis_min = dis_a = 0.0
    if isinstance(m, BPT_DC_CPDReqEnergyTransferModeType):
        dis_max, dis_min = mag(m.EVMaximumDischargePower), mag(m.EVMinimumDischargePower)
        dis_a = mag(m.EVMaximumDischargeCurrent)
    return EvLimitsKnown(
        max_charge_w=fl(m.EVMaximumChargePower) or 0.0,
        min_charge_w=fl(m.EVMinimumChargePower) or 0.0,
        max_discharge_w=dis_max,
        min_discharge_w=dis_min,
        max_charge_a=fl(m.EVMaximumChargeCurrent),
        max_discharge_a=dis_a,
        max_v=fl(m.EVMaximumVoltage),
        min_v=fl(m.EVMinimumVoltage),
    )


def _valid(ev: EvLimitsKnown, min_a: float, our_min_v: float, our_max_v: float) -> bool:
    """[V2G20-2272] non-negative, min <= max, and a voltage range that meets ours."""
    if min(ev.max_charge_w, ev.min_charge_w) < 0 or ev.min_charge_w > ev.max_charge_w:
        return False
    if ev.min_discharge_w > ev.max_discharge_w:
        return False
    if ev.max_charge_a is None or ev.max_charge_a < 0 or min_a > ev.max_charge_a:
        return False
    if ev.max_v is None or ev.min_v is None or ev.min_v > ev.max_v:
        return False
    return not (our_max_v > 0 and (ev.max_v < our_min_v or ev.min_v > our_max_v))


def handle(
    req: DC_ChargeParameterDiscoveryReqType, ctx: SessionContext, view: StationView, now: float
) -> Outcome:
    if not session_ok(req, ctx):
        return _failed(ctx, view, "FAILED_UnknownSession")
    if ctx.service is None or ctx.control_mode is None:  # no ServiceSelection yet
        return _failed(ctx, view, "FAILED_SequenceError")
    end_phases(ctx)  # a new (or resumed) energy part: no leftovers of an earlier one
    bpt = req.BPT_DC_CPDReqEnergyTransferMode
    plain = req.DC_CPDReqEnergyTransferMode
    m: DC_CPDReqEnergyTransferModeType | BPT_DC_CPDReqEnergyTransferModeType
    if ctx.service == "DC_BPT" and bpt is not None:
        m = bpt
    elif ctx.service == "DC" and plain is not None:
        m = plain
    else:  # [V2G20-2272] the set does not match the selected service
        return _failed(ctx, view, "FAILED_WrongChargeParameter")
    lim = ctx.config.limits
    ev = _ev_limits(m)
    if not _valid(ev, fl(m.EVMinimumChargeCurrent) or 0.0, lim.min_v, lim.max_v):
        return _failed(ctx, view, "FAILED_WrongChargeParameter")
    ctx.ev = ev
    our_dis = discharge_limit_w(ctx, view)
    common = {
        "EVSEMaximumChargePower": rn(charge_limit_w(ctx)),
        "EVSEMinimumChargePower": ZERO,
        "EVSEMaximumChargeCurrent": rn(lim.max_charge_a),
        "EVSEMinimumChargeCurrent": ZERO,
        "EVSEMaximumVoltage": rn(lim.max_v),
        "EVSEMinimumVoltage": rn(lim.min_v),
    }
    if isinstance(m, BPT_DC_CPDReqEnergyTransferModeType):
        res = DC_ChargeParameterDiscoveryResType(
            Header=header(ctx, view), ResponseCode="OK",
            BPT_DC_CPDResEnergyTransferMode=BPT_DC_CPDResEnergyTransferModeType(
                **common,
                EVSEMaximumDischargePower=rn(our_dis),
                EVSEMinimumDischargePower=ZERO,
                EVSEMaximumDischargeCurrent=rn(lim.max_discharge_a if our_dis > 0 else 0.0),
                EVSEMinimumDischargeCurrent=ZERO,
            ),
        )
    else:
        res = DC_ChargeParameterDiscoveryResType(
            Header=header(ctx, view), ResponseCode="OK",
            DC_CPDResEnergyTransferMode=DC_CPDResEnergyTransferModeType(**common),
        )
    needs = EvNeeds(service=ctx.service, control_mode=ctx.control_mode, limits=ev,
                    target_soc=m.TargetSOC)
    return Outcome(RESPONSE, res, "dc", frozenset({"ScheduleExchangeReq", "SessionStopReq"}),
                   (needs,))
