"""ScheduleExchange (ISO 15118-20 8.3.5.3.x): Scheduled tuples, Dynamic targets, Ongoing
bounded by the fake clock, control-mode mismatch -> FAILED."""

from __future__ import annotations

import pytest

from evse.iso15118.d20 import schedule_exchange as se
from evse.iso15118.d20.price_schedule import PriceOffer
from evse.iso15118.d20.rational import to_float
from evse.iso15118.d20.types import EvLimitsKnown, EvNeeds
from evse.iso15118.exi._generated.common_types import (
    Dynamic_SEReqControlModeType,
    Scheduled_SEReqControlModeType,
    ScheduleExchangeReqType,
)
from tests.unit.iso15118.d20_power_rig import actions_of, code, ctx, hdr, r, roundtrip, view


def sched_req(departure: int | None = 7_200, points: int = 12) -> ScheduleExchangeReqType:
    return ScheduleExchangeReqType(
        Header=hdr(), MaximumSupportingPoints=points,
        Scheduled_SEReqControlMode=Scheduled_SEReqControlModeType(
            DepartureTime=departure, EVTargetEnergyRequest=r(20_000.0)))


def dyn_req() -> ScheduleExchangeReqType:
    return ScheduleExchangeReqType(
        Header=hdr(), MaximumSupportingPoints=12,
        Dynamic_SEReqControlMode=Dynamic_SEReqControlModeType(
            DepartureTime=3_600, MinimumSOC=30, TargetSOC=80,
            EVTargetEnergyRequest=r(20_000.0), EVMaximumEnergyRequest=r(40_000.0),
            EVMinimumEnergyRequest=r(5_000.0)))


@pytest.mark.parametrize(("target", "charge", "discharge"), [
    (4_000.0, 4_000.0, 3_000.0),  # the station's target, discharge up to hal's -3 kW
    (9_000.0, 7_000.0, 3_000.0),  # the target cut to hal's range in force
    (-2_000.0, 0.0, 2_000.0),  # the station wants discharge: no charging
    (-8_000.0, 0.0, 3_000.0),
])
def test_scheduled_tuple_is_station_power_until_departure(
    target: float, charge: float, discharge: float
) -> None:
    c = ctx("AC_BPT", "Scheduled")
    c.ev = EvLimitsKnown(max_charge_w=11_000.0, max_discharge_w=5_000.0)
    out = se.handle(sched_req(), c, view(target_w=target, max_w=7_000.0, min_w=-3_000.0), 0.0)
    assert code(out) == "OK"
    res = roundtrip(out)
    assert res.EVSEProcessing == "Finished"
    [tup] = res.Scheduled_SEResControlMode.ScheduleTuple
    [entry] = tup.ChargingSchedule.PowerSchedule.PowerScheduleEntries.PowerScheduleEntry
    assert to_float(entry.Power) == charge
    assert entry.Duration == 7_200  # the car's departure
    assert tup.ChargingSchedule.PowerSchedule.TimeAnchor == view().epoch_s
    [dis] = tup.DischargingSchedule.PowerSchedule.PowerScheduleEntries.PowerScheduleEntry
    assert to_float(dis.Power) == discharge  # a magnitude
    assert out.next == {"PowerDeliveryReq", "SessionStopReq"}  # AC: no cable check
    [needs] = actions_of(out, EvNeeds)
    assert needs.departure_time_s == 7_200 and needs.target_energy_wh == 20_000.0


def test_scheduled_entries_within_maximum_supporting_points() -> None:
    c = ctx("DC", "Scheduled")
    out = se.handle(sched_req(departure=None, points=12), c, view(target_w=0.0), 0.0)
    [tup] = out.response.Scheduled_SEResControlMode.ScheduleTuple
    entries = tup.ChargingSchedule.PowerSchedule.PowerScheduleEntries.PowerScheduleEntry
    assert 1 <= len(entries) <= 12
    assert entries[0].Duration == se.DEFAULT_HORIZON_S
    assert tup.DischargingSchedule is None  # not BPT
    assert out.next == {"DC_CableCheckReq", "SessionStopReq"}


def test_dynamic_echoes_departure_and_soc_targets() -> None:
    c = ctx("DC_BPT", "Dynamic")
    out = se.handle(dyn_req(), c, view(target_w=10_000.0), 0.0)
    mode = roundtrip(out).Dynamic_SEResControlMode
    assert (mode.DepartureTime, mode.MinimumSOC, mode.TargetSOC) == (3_600, 30, 80)
    [needs] = actions_of(out, EvNeeds)
    assert (needs.target_soc, needs.min_soc, needs.max_energy_wh) == (80, 30, 40_000.0)
    assert c.departure_time_s == 3_600


def test_ongoing_until_station_decides_then_finished() -> None:
    c = ctx("DC", "Dynamic")
    first = se.handle(dyn_req(), c, view(target_w=None), 100.0)
    assert first.response.EVSEProcessing == "Ongoing"
    assert first.next == {"ScheduleExchangeReq", "SessionStopReq"}
    roundtrip(first)
    assert actions_of(first, EvNeeds)  # the energy manager learns the needs at once
    again = se.handle(dyn_req(), c, view(target_w=None), 130.0)
    assert again.response.EVSEProcessing == "Ongoing" and not actions_of(again, EvNeeds)
    done = se.handle(dyn_req(), c, view(target_w=5_000.0), 140.0)
    assert done.response.EVSEProcessing == "Finished" and code(done) == "OK"


def test_ongoing_bounded_by_timeout_then_failed() -> None:
    c = ctx("DC", "Dynamic", ongoing_timeout_s=60.0)
    se.handle(dyn_req(), c, view(), 0.0)
    assert se.handle(dyn_req(), c, view(), 59.0).response.EVSEProcessing == "Ongoing"
    out = se.handle(dyn_req(), c, view(), 61.0)
    assert code(out) == "FAILED" and out.next == frozenset()
    roundtrip(out)


def test_control_mode_mismatch_failed() -> None:
    out = se.handle(dyn_req(), ctx("AC", "Scheduled"), view(target_w=0.0), 0.0)
    assert code(out) == "FAILED" and not out.next
    out2 = se.handle(sched_req(), ctx("AC", "Dynamic"), view(target_w=0.0), 0.0)
    assert code(out2) == "FAILED"


def test_renegotiation_in_loop_goes_back_to_power_delivery() -> None:
    c = ctx("DC", "Scheduled")
    c.energy_transfer = True
    out = se.handle(sched_req(), c, view(target_w=1_000.0), 0.0)
    assert out.next == {"PowerDeliveryReq", "SessionStopReq"}


def test_unknown_session() -> None:
    req = dyn_req()
    req.Header.SessionID = b"\x07" * 8
    assert code(se.handle(req, ctx("DC"), view(target_w=0.0), 0.0)) == "FAILED_UnknownSession"


@pytest.mark.parametrize("kind", ["absolute", "price_levels"])
def test_scheduled_tuple_carries_the_configured_price_schedule(kind: str) -> None:
    """ISO 15118-20 8.3.5.3.40 ChargingScheduleType: AbsolutePriceSchedule or
    PriceLevelSchedule (optional; some cars require one), on both schedules of a BPT tuple,
    over the same horizon as the power; also in the Ongoing placeholder."""
    offer = PriceOffer("absolute", "EUR", "deu", per_kwh=0.35) if kind == "absolute" \
        else PriceOffer("price_levels", levels=4, level=2)
    c = ctx("AC_BPT", "Scheduled", price_offer=offer)
    pending = roundtrip(se.handle(sched_req(), c, view(target_w=None), 0.0))
    assert pending.EVSEProcessing == "Ongoing"
    [tup] = pending.Scheduled_SEResControlMode.ScheduleTuple
    assert tup.ChargingSchedule.AbsolutePriceSchedule or tup.ChargingSchedule.PriceLevelSchedule
    res = roundtrip(se.handle(sched_req(), c, view(target_w=4_000.0), 1.0))
    [tup] = res.Scheduled_SEResControlMode.ScheduleTuple
    for sched in (tup.ChargingSchedule, tup.DischargingSchedule):
        if kind == "absolute":
            prices = sched.AbsolutePriceSchedule
            assert sched.PriceLevelSchedule is None
            assert (prices.Currency, prices.Language, prices.TimeAnchor) == (
                "EUR", "deu", view().epoch_s)
            assert prices.PriceAlgorithm.endswith("PriceAlgorithm:1-Power")
            [stack] = prices.PriceRuleStacks.PriceRuleStack
            [rule] = stack.PriceRule
            assert stack.Duration == 7_200 and to_float(rule.EnergyFee) == pytest.approx(0.35)
            assert to_float(rule.PowerRangeStart) == 0.0
        else:
            levels = sched.PriceLevelSchedule
            assert sched.AbsolutePriceSchedule is None and levels.NumberOfPriceLevels == 4
            [entry] = levels.PriceLevelScheduleEntries.PriceLevelScheduleEntry
            assert (entry.Duration, entry.PriceLevel) == (7_200, 2)
    plain = roundtrip(se.handle(sched_req(), ctx("AC_BPT", "Scheduled"), view(target_w=1.0), 0))
    [tup] = plain.Scheduled_SEResControlMode.ScheduleTuple  # none configured: none sent
    assert tup.ChargingSchedule.AbsolutePriceSchedule is None
    assert tup.ChargingSchedule.PriceLevelSchedule is None
