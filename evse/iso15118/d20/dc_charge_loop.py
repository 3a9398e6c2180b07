"""DC_ChargeLoopReq, all four control-mode variants (Scheduled / Dynamic, with or without
BPT).

The station's power for the car is `power_common.target_w` (its request capped by hal's
grid constraint in force, our limits, the car's limits) from the snapshot taken when the
request arrived, so a trip, cessation, droop or limit-max-discharge in hal shows in the
very next answer. Scheduled: the car asks for a voltage and a current; the stage gets
that current cut to the station's power (EVSEPowerLimitAchieved) and our current limit
(EVSECurrentLimitAchieved). Dynamic: the station sets the power; the answer carries it as
our maximum (charge or discharge) and the stage delivers it at the car's voltage.

Answers from the latest measurement; never waits. A variant other than the selected
service and control mode: FAILED and the stage off. EVSENotification from the
station's stop / pause wish.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from evse.iso15118.d20.power_common import (
    ZERO,
    Code,
    evse_status,
    fl,
    mag,
    meter_info,
    rn,
    session_ok,
    target_w,
)
from evse.iso15118.d20.types import (
    Action,
    DcCommand,
    EnergyTransfer,
    EvLimitsKnown,
    EvStatus,
    Outcome,
    SessionContext,
    StationView,
    header,
)
from evse.iso15118.exi._generated.dc_types import (
    BPT_Dynamic_DC_CLResControlModeType,
    BPT_Scheduled_DC_CLResControlModeType,
    DC_ChargeLoopReqType,
    DC_ChargeLoopResType,
    Dynamic_DC_CLResControlModeType,
    Scheduled_DC_CLResControlModeType,
)

REQUEST = "DC_ChargeLoopReq"
RESPONSE = "DC_ChargeLoopRes"
_NEXT = frozenset({"DC_ChargeLoopReq", "PowerDeliveryReq", "SessionStopReq"})
_VARIANT = MappingProxyType({
    ("DC", "Scheduled"): "Scheduled_DC_CLReqControlMode",
    ("DC", "Dynamic"): "Dynamic_DC_CLReqControlMode",
    ("DC_BPT", "Scheduled"): "BPT_Scheduled_DC_CLReqControlMode",
    ("DC_BPT", "Dynamic"): "BPT_Dynamic_DC_CLReqControlMode",
})
_MIN_V = 1.0  # below this the output is off: no current target can be derived


def _present(view: StationView) -> tuple[float, float]:
    dc = view.dc
    v = dc.present_v if dc is not None and dc.present_v is not None else view.present_v
    a = dc.present_a if dc is not None and dc.present_a is not None else view.present_a
    return v or 0.0, a or 0.0


def _failed(ctx: SessionContext, view: StationView, code: Code) -> Outcome:
    ctx.energy_transfer = False
    v, a = _present(view)
    res = DC_ChargeLoopResType(
        Header=header(ctx, view), ResponseCode=code, EVSEPresentCurrent=rn(a),
        EVSEPresentVoltage=rn(v), EVSEPowerLimitAchieved=False,
        EVSECurrentLimitAchieved=False, EVSEVoltageLimitAchieved=False,
        Scheduled_DC_CLResControlMode=Scheduled_DC_CLResControlModeType())
    return Outcome(RESPONSE, res, "dc", frozenset(),
                   (EnergyTransfer(start=False), DcCommand("off")))


def _update_ev(ctx: SessionContext, m: Any) -> None:
    """The loop carries the car's limits again (optional in Scheduled): latest counts."""
    ev = ctx.ev if ctx.ev is not None else EvLimitsKnown(max_charge_w=0.0)

    def pick(name: str, old: float | None) -> float | None:
        r = getattr(m, name, None)
        return old if r is None else mag(r)

    ctx.ev = EvLimitsKnown(
        max_charge_w=pick("EVMaximumChargePower", ev.max_charge_w) or 0.0,
        min_charge_w=ev.min_charge_w,
        max_discharge_w=pick("EVMaximumDischargePower", ev.max_discharge_w) or 0.0,
        min_discharge_w=ev.min_discharge_w,
        max_charge_a=pick("EVMaximumChargeCurrent", ev.max_charge_a),
        max_discharge_a=pick("EVMaximumDischargeCurrent", ev.max_discharge_a),
        max_v=pick("EVMaximumVoltage", ev.max_v),
        min_v=pick("EVMinimumVoltage", ev.min_v),
    )


def _scheduled(ctx: SessionContext, m: Any, power: float, volts: float
               ) -> tuple[float, float, bool, bool]:
    """The car's (V, A) cut to the station's power and our current limits (signed A)."""
    lim = ctx.config.limits
    want_v = fl(m.EVTargetVoltage) or 0.0
    want_a = fl(m.EVTargetCurrent) or 0.0
    at_v = max(volts, want_v, _MIN_V)  # the higher voltage: the power cap holds for sure
    power_a = power / at_v
    if want_a >= 0:
        by_power, by_current = max(power_a, 0.0), lim.max_charge_a
        amps = min(want_a, by_power, by_current)
    else:
        by_power, by_current = max(-power_a, 0.0), lim.max_discharge_a
        amps = -min(-want_a, by_power, by_current)
    cut = amps != want_a
    power_cut = cut and by_power <= by_current
    current_cut = cut and by_current <= by_power
    return want_v, amps, power_cut, current_cut


def handle(req: DC_ChargeLoopReqType, ctx: SessionContext, view: StationView,
           now: float) -> Outcome:
    if not session_ok(req, ctx):
        return _failed(ctx, view, "FAILED_UnknownSession")
    field = _VARIANT.get((ctx.service or "", ctx.control_mode or ""))
    if field is None or getattr(req, field) is None:  # not the selected service / mode
        return _failed(ctx, view, "FAILED")
    m = getattr(req, field)
    _update_ev(ctx, m)
    power, limited = target_w(ctx, view)
    ev_v = fl(req.EVPresentVoltage) or 0.0
    v_now, a_now = _present(view)
    lim = ctx.config.limits
    if ctx.control_mode == "Scheduled":
        want_v, amps, power_cut, current_cut = _scheduled(ctx, m, power, max(v_now, ev_v))
        mode: Any
        if ctx.service == "DC_BPT":
            mode = BPT_Scheduled_DC_CLResControlModeType(
                EVSEMaximumChargePower=rn(max(power, 0.0)),
                EVSEMaximumDischargePower=rn(max(-power, 0.0)))
        else:
            mode = Scheduled_DC_CLResControlModeType(EVSEMaximumChargePower=rn(max(power, 0.0)))
        ev_target = want_v * (fl(m.EVTargetCurrent) or 0.0)
    else:  # Dynamic: the station decides the current; the voltage may rise to the car's max
        want_v = ctx.ev.max_v if ctx.ev is not None and ctx.ev.max_v else ev_v
        amps = power / max(ev_v, v_now, _MIN_V)
        power_cut, current_cut = limited, False
        if amps > lim.max_charge_a or -amps > lim.max_discharge_a:
            amps = min(max(amps, -lim.max_discharge_a), lim.max_charge_a)
            current_cut = True
        common: dict[str, Any] = {
            "EVSEMaximumChargePower": rn(max(power, 0.0)), "EVSEMinimumChargePower": ZERO,
            "EVSEMaximumChargeCurrent": rn(lim.max_charge_a), "EVSEMaximumVoltage": rn(lim.max_v),
        }
        if ctx.service == "DC_BPT":
            mode = BPT_Dynamic_DC_CLResControlModeType(
                **common, EVSEMaximumDischargePower=rn(max(-power, 0.0)),
                EVSEMinimumDischargePower=ZERO,
                EVSEMaximumDischargeCurrent=rn(lim.max_discharge_a if power < 0 else 0.0),
                EVSEMinimumVoltage=rn(lim.min_v))
        else:
            mode = Dynamic_DC_CLResControlModeType(**common)
        ev_target = None
    res = DC_ChargeLoopResType(
        Header=header(ctx, view), ResponseCode="OK", EVSEStatus=evse_status(ctx, view),
        MeterInfo=meter_info(ctx, view) if req.MeterInfoRequested else None,
        EVSEPresentCurrent=rn(a_now), EVSEPresentVoltage=rn(v_now),
        EVSEPowerLimitAchieved=power_cut, EVSECurrentLimitAchieved=current_cut,
        EVSEVoltageLimitAchieved=lim.max_v > 0 and want_v >= lim.max_v,
        **{field.replace("Req", "Res"): mode},
    )
    display = req.DisplayParameters
    actions: tuple[Action, ...] = (
        DcCommand("deliver", target_v=min(want_v, lim.max_v) if lim.max_v > 0 else want_v,
                  target_a=amps),
        EvStatus(soc=display.PresentSOC if display is not None else None, present_v=ev_v,
                 target_w=ev_target,
                 target_soc=display.TargetSOC if display is not None else None,
                 departure_time_s=getattr(m, "DepartureTime", None)),
    )
    return Outcome(RESPONSE, res, "dc", _NEXT, actions)
