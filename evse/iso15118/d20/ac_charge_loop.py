"""AC_ChargeLoopReq, all four control-mode variants (Scheduled / Dynamic, with or without
BPT). For an AC EVSE the car's charger or inverter is the grid device: hal's constraint
reaches it only through the target sent here, so the target is `power_common.target_w`
(the station's request capped by hal's constraint in force, our limits per direction and
phase count, the car's limits) from the snapshot taken when the request arrived; a trip,
cessation, droop or limit-max-discharge in hal shows in the very next answer.

Answers from the latest measurement; never waits. A variant other than the selected
service and control mode: FAILED (and the transfer stops). EVSENotification from the
station's stop / pause wish. EvStatus carries the car's SOC and its maximum charge power.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from evse.iso15118.d20.power_common import (
    Code,
    ac_phases,
    ac_split,
    evse_status,
    fl,
    meter_info,
    session_ok,
    target_w,
)
from evse.iso15118.d20.types import (
    Action,
    EnergyTransfer,
    EvLimitsKnown,
    EvStatus,
    Outcome,
    SessionContext,
    StationView,
    header,
)
from evse.iso15118.exi._generated.ac_types import (
    AC_ChargeLoopReqType,
    AC_ChargeLoopResType,
    BPT_Dynamic_AC_CLResControlModeType,
    BPT_Scheduled_AC_CLResControlModeType,
    Dynamic_AC_CLResControlModeType,
    Scheduled_AC_CLResControlModeType,
)
from evse.iso15118.exi._generated.shared_types import RationalNumberType

REQUEST = "AC_ChargeLoopReq"
RESPONSE = "AC_ChargeLoopRes"
_NEXT = frozenset({"AC_ChargeLoopReq", "PowerDeliveryReq", "SessionStopReq"})

# (selected service, control mode) -> the request field the car must use
_VARIANT = MappingProxyType({
    ("AC", "Scheduled"): "Scheduled_AC_CLReqControlMode",
    ("AC", "Dynamic"): "Dynamic_AC_CLReqControlMode",
    ("AC_BPT", "Scheduled"): "BPT_Scheduled_AC_CLReqControlMode",
    ("AC_BPT", "Dynamic"): "BPT_Dynamic_AC_CLReqControlMode",
})

_RES_CLASS: MappingProxyType[str, type[Any]] = MappingProxyType({
    "Scheduled_AC_CLReqControlMode": Scheduled_AC_CLResControlModeType,
    "Dynamic_AC_CLReqControlMode": Dynamic_AC_CLResControlModeType,
    "BPT_Scheduled_AC_CLReqControlMode": BPT_Scheduled_AC_CLResControlModeType,
    "BPT_Dynamic_AC_CLReqControlMode": BPT_Dynamic_AC_CLResControlModeType,
})


def _failed(ctx: SessionContext, view: StationView, code: Code) -> Outcome:
    """Transfer stops; the schema wants a control mode even here (all fields optional)."""
    ctx.energy_transfer = False
    res = AC_ChargeLoopResType(Header=header(ctx, view), ResponseCode=code,
                               Scheduled_AC_CLResControlMode=Scheduled_AC_CLResControlModeType())
    return Outcome(RESPONSE, res, "ac", frozenset(), (EnergyTransfer(start=False),))


def _total(base: RationalNumberType | None, l2: RationalNumberType | None,
           l3: RationalNumberType | None) -> float | None:
    if base is None:
        return None
    return sum(abs(fl(x) or 0.0) for x in (base, l2, l3))


def _update_ev(ctx: SessionContext, m: Any) -> None:
    """Dynamic and BPT loops carry the car's limits again: the latest ones count."""
    ev = ctx.ev if ctx.ev is not None else EvLimitsKnown(max_charge_w=0.0)
    ch = _total(m.EVMaximumChargePower, m.EVMaximumChargePower_L2, m.EVMaximumChargePower_L3)
    dis = None
    if hasattr(m, "EVMaximumDischargePower"):
        dis = _total(m.EVMaximumDischargePower, m.EVMaximumDischargePower_L2,
                     m.EVMaximumDischargePower_L3)
    ctx.ev = EvLimitsKnown(
        max_charge_w=ch if ch is not None else ev.max_charge_w, min_charge_w=ev.min_charge_w,
        max_discharge_w=dis if dis is not None else ev.max_discharge_w,
        min_discharge_w=ev.min_discharge_w,
    )


def handle(req: AC_ChargeLoopReqType, ctx: SessionContext, view: StationView,
           now: float) -> Outcome:
    if not session_ok(req, ctx):
        return _failed(ctx, view, "FAILED_UnknownSession")
    field = _VARIANT.get((ctx.service or "", ctx.control_mode or ""))
    if field is None or getattr(req, field) is None:  # not the selected service / mode
        return _failed(ctx, view, "FAILED")
    m = getattr(req, field)
    _update_ev(ctx, m)
    target, _ = target_w(ctx, view)
    ch_ph, dis_ph = ac_phases(ctx)
    t1, t2, t3 = ac_split(target, ch_ph if target >= 0 else dis_ph)  # own phases per direction
    fields: dict[str, Any] = {
        "EVSETargetActivePower": t1, "EVSETargetActivePower_L2": t2,
        "EVSETargetActivePower_L3": t3,
    }
    if view.present_w is not None:
        p1, p2, p3 = ac_split(view.present_w, ch_ph if view.present_w >= 0 else dis_ph)
        fields |= {"EVSEPresentActivePower": p1, "EVSEPresentActivePower_L2": p2,
                   "EVSEPresentActivePower_L3": p3}
    cls = _RES_CLASS[field]
    res = AC_ChargeLoopResType(
        Header=header(ctx, view), ResponseCode="OK", EVSEStatus=evse_status(ctx, view),
        MeterInfo=meter_info(ctx, view) if req.MeterInfoRequested else None,
        **{field.replace("Req", "Res"): cls(**fields)},
    )
    display = req.DisplayParameters
    actions: tuple[Action, ...] = (
        EvStatus(soc=display.PresentSOC if display is not None else None,
                 target_w=ctx.ev.max_charge_w if ctx.ev is not None else None,
                 target_soc=display.TargetSOC if display is not None else None,
                 departure_time_s=getattr(m, "DepartureTime", None)),
    )
    return Outcome(RESPONSE, res, "ac", _NEXT, actions)
