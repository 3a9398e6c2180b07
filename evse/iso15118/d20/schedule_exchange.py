"""ScheduleExchangeReq: Scheduled mode gets schedule tuples, Dynamic mode the departure
time and SOC targets.

EVSEProcessing is Ongoing while the station has no power decision yet (view.target_w is
None), bounded by SeccConfig.ongoing_timeout_s from the first request, then FAILED
(safety: no open-ended wait). A control mode other than the one selected: FAILED.
Scheduled: one tuple whose charging schedule is the station's power in force (its target,
within hal's range view.max_w / min_w, our capability, the car's limit) until the car's
departure; BPT adds a discharging schedule (magnitudes, see types.py). Never more entries than the
car's MaximumSupportingPoints. Each schedule carries the configured price schedule, if
any (`price_schedule.py`; the XSD makes it optional, some cars require it).
"""

from __future__ import annotations

from typing import Literal

from evse.iso15118.d20.power_common import (
    Code,
    charge_limit_w,
    discharge_limit_w,
    fl,
    is_bpt,
    rn,
    session_ok,
)
from evse.iso15118.d20.price_schedule import PriceOffer, price_fields
from evse.iso15118.d20.types import (
    EvLimitsKnown,
    EvNeeds,
    Outcome,
    SessionContext,
    StationView,
    header,
)
from evse.iso15118.exi._generated.common_types import (
    ChargingScheduleType,
    Dynamic_SEResControlModeType,
    PowerScheduleEntryListType,
    PowerScheduleEntryType,
    PowerScheduleType,
    Scheduled_SEResControlModeType,
    ScheduleExchangeReqType,
    ScheduleExchangeResType,
    ScheduleTupleType,
)

REQUEST = "ScheduleExchangeReq"
RESPONSE = "ScheduleExchangeRes"
TUPLE_ID = 1
DEFAULT_HORIZON_S = 86_400  # no departure time given: one day (-20 schedules span <= 24 h)
_STARTED = "schedule_exchange_started_at"


def _placeholder(ctx: SessionContext, view: StationView, code: Code,
                 processing: Literal["Finished", "Ongoing"]) -> ScheduleExchangeResType:
    """The schema wants a control mode even while Ongoing or failed: an empty Dynamic one,
    or (Scheduled) one tuple of zero power, harmless if a car read it."""
    if ctx.control_mode == "Dynamic":
        return ScheduleExchangeResType(Header=header(ctx, view), ResponseCode=code,
                                       EVSEProcessing=processing,
                                       Dynamic_SEResControlMode=Dynamic_SEResControlModeType())
    zero = ScheduleTupleType(ScheduleTupleID=TUPLE_ID,
                             ChargingSchedule=_schedule(view.epoch_s, 0.0, DEFAULT_HORIZON_S,
                                                        ctx.config.price_offer))
    return ScheduleExchangeResType(
        Header=header(ctx, view), ResponseCode=code, EVSEProcessing=processing,
        Scheduled_SEResControlMode=Scheduled_SEResControlModeType(ScheduleTuple=[zero]))


def _failed(ctx: SessionContext, view: StationView, code: Code) -> Outcome:
    ctx.extra.pop(_STARTED, None)
    return Outcome(RESPONSE, _placeholder(ctx, view, code, "Finished"), "common", frozenset())


def _schedule(anchor: int, power_w: float, duration_s: int,
              prices: PriceOffer | None) -> ChargingScheduleType:
    entry = PowerScheduleEntryType(Duration=duration_s, Power=rn(power_w))
    return ChargingScheduleType(PowerSchedule=PowerScheduleType(
        TimeAnchor=anchor, PowerScheduleEntries=PowerScheduleEntryListType(
            PowerScheduleEntry=[entry])), **price_fields(prices, anchor, duration_s))


def _limits(ctx: SessionContext, view: StationView) -> tuple[float, float]:
    """(charge, discharge) magnitudes the schedule offers: the station's target in its
    direction (its request capped by hal), the other direction closed when the station
    wants discharge, all within hal's range, our capability and the car's limits."""
    ch = charge_limit_w(ctx)
    dis = discharge_limit_w(ctx, view)
    if view.max_w is not None:
        ch = min(ch, max(view.max_w, 0.0))
    if view.min_w is not None:
        dis = min(dis, max(-view.min_w, 0.0))
    if ctx.ev is not None:
        ch = min(ch, ctx.ev.max_charge_w)
        dis = min(dis, ctx.ev.max_discharge_w)
    target = view.target_w or 0.0
    if target >= 0.0:
        ch = min(ch, target)
    else:
        ch, dis = 0.0, min(dis, -target)
    return max(ch, 0.0), max(dis, 0.0)


def _needs(req: ScheduleExchangeReqType, ctx: SessionContext) -> EvNeeds:
    assert ctx.service is not None and ctx.control_mode is not None  # checked by handle
    sched, dyn = req.Scheduled_SEReqControlMode, req.Dynamic_SEReqControlMode
    m = sched if sched is not None else dyn
    departure = m.DepartureTime if m is not None else None
    ctx.departure_time_s = departure
    return EvNeeds(
        service=ctx.service, control_mode=ctx.control_mode,
        limits=ctx.ev if ctx.ev is not None else EvLimitsKnown(max_charge_w=0.0),
        departure_time_s=departure,
        target_energy_wh=fl(m.EVTargetEnergyRequest) if m is not None else None,
        min_energy_wh=fl(m.EVMinimumEnergyRequest) if m is not None else None,
        max_energy_wh=fl(m.EVMaximumEnergyRequest) if m is not None else None,
        target_soc=dyn.TargetSOC if dyn is not None else None,
        min_soc=dyn.MinimumSOC if dyn is not None else None,
        complete=True,
    )


def _next(ctx: SessionContext) -> frozenset[str]:
    if ctx.energy_transfer or ctx.service in ("AC", "AC_BPT"):
        # AC, or a schedule renegotiated during the loop: straight to PowerDelivery
        return frozenset({"PowerDeliveryReq", "SessionStopReq"})
    return frozenset({"DC_CableCheckReq", "SessionStopReq"})


def handle(
    req: ScheduleExchangeReqType, ctx: SessionContext, view: StationView, now: float
) -> Outcome:
    if not session_ok(req, ctx):
        return _failed(ctx, view, "FAILED_UnknownSession")
    sched, dyn = req.Scheduled_SEReqControlMode, req.Dynamic_SEReqControlMode
    if ctx.service is None or ctx.control_mode is None:
        return _failed(ctx, view, "FAILED_SequenceError")
    if (ctx.control_mode == "Scheduled" and sched is None) or (
        ctx.control_mode == "Dynamic" and dyn is None
    ):  # the car asks for a control mode it did not select
        return _failed(ctx, view, "FAILED")
    first = _STARTED not in ctx.extra
    started = float(ctx.extra.setdefault(_STARTED, now))
    actions: tuple[EvNeeds, ...] = ()
    if first:  # the car's needs to the energy manager / OCPP NotifyEVChargingNeeds
        actions = (_needs(req, ctx),)
    if view.target_w is None:  # no power decision yet: Ongoing, bounded
        if now - started > ctx.config.ongoing_timeout_s:
            return _failed(ctx, view, "FAILED")
        res = _placeholder(ctx, view, "OK", "Ongoing")
        return Outcome(RESPONSE, res, "common",
                       frozenset({"ScheduleExchangeReq", "SessionStopReq"}), actions)
    ctx.extra.pop(_STARTED, None)
    if dyn is not None:
        res = ScheduleExchangeResType(
            Header=header(ctx, view), ResponseCode="OK", EVSEProcessing="Finished",
            Dynamic_SEResControlMode=Dynamic_SEResControlModeType(
                DepartureTime=dyn.DepartureTime, MinimumSOC=dyn.MinimumSOC,
                TargetSOC=dyn.TargetSOC),
        )
        return Outcome(RESPONSE, res, "common", _next(ctx), actions)
    # Scheduled: one entry per schedule, so any MaximumSupportingPoints (>= 12) holds it
    horizon = ctx.departure_time_s if ctx.departure_time_s else DEFAULT_HORIZON_S
    horizon = max(1, min(horizon, DEFAULT_HORIZON_S))
    ch, dis = _limits(ctx, view)
    prices = ctx.config.price_offer
    tup = ScheduleTupleType(
        ScheduleTupleID=TUPLE_ID,
        ChargingSchedule=_schedule(view.epoch_s, ch, horizon, prices),
        DischargingSchedule=_schedule(view.epoch_s, dis, horizon, prices)
        if is_bpt(ctx) else None,
    )
    ctx.extra["schedule_tuples"] = {TUPLE_ID: (ch, dis)}
    res = ScheduleExchangeResType(
        Header=header(ctx, view), ResponseCode="OK", EVSEProcessing="Finished",
        Scheduled_SEResControlMode=Scheduled_SEResControlModeType(ScheduleTuple=[tup]),
    )
    return Outcome(RESPONSE, res, "common", _next(ctx), actions)
