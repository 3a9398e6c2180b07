"""PowerDelivery (ISO 15118-20 8.3.5.3.x): Start / Stop / Standby / ScheduleRenegotiation,
never waiting for the contactor, and the FAILED_* paths the -20 text names for it."""

from __future__ import annotations

from evse.iso15118.d20 import power_delivery as pd
from evse.iso15118.d20.types import DcCommand, EnergyTransfer, SessionContext
from evse.iso15118.exi._generated.common_types import (
    Dynamic_EVPPTControlModeType,
    EVPowerProfileEntryListType,
    EVPowerProfileType,
    PowerDeliveryReqType,
    PowerScheduleEntryType,
    Scheduled_EVPPTControlModeType,
)
from tests.unit.iso15118.d20_power_rig import actions_of, code, ctx, hdr, r, roundtrip, view


def profile(tuple_id: int | None = 1, *powers: float) -> EVPowerProfileType:
    entries = [PowerScheduleEntryType(Duration=600, Power=r(p)) for p in powers or (3_000.0,)]
    return EVPowerProfileType(
        TimeAnchor=1_790_000_000,
        Scheduled_EVPPTControlMode=(Scheduled_EVPPTControlModeType(SelectedScheduleTupleID=tuple_id)
                                    if tuple_id is not None else None),
        Dynamic_EVPPTControlMode=None if tuple_id is not None else Dynamic_EVPPTControlModeType(),
        EVPowerProfileEntries=EVPowerProfileEntryListType(EVPowerProfileEntry=entries))


def req(progress: str = "Start", prof: EVPowerProfileType | None = None,
        processing: str = "Finished", channel: str | None = None) -> PowerDeliveryReqType:
    return PowerDeliveryReqType(Header=hdr(), EVProcessing=processing,  # type: ignore[arg-type]
                                ChargeProgress=progress,  # type: ignore[arg-type]
                                EVPowerProfile=prof, BPT_ChannelSelection=channel)  # type: ignore[arg-type]


def scheduled(service: str = "AC_BPT") -> SessionContext:
    c = ctx(service, "Scheduled")  # type: ignore[arg-type]
    c.extra["schedule_tuples"] = {1: (7_000.0, 3_000.0)}
    return c


def test_start_returns_energy_transfer_without_waiting_for_contactor() -> None:
    c = ctx("AC", "Dynamic")
    out = pd.handle(req("Start", profile(None)), c, view(contactor_closed=False), 0.0)
    assert code(out) == "OK"
    assert actions_of(out, EnergyTransfer) == [EnergyTransfer(start=True)]
    assert out.next == {"AC_ChargeLoopReq", "PowerDeliveryReq", "SessionStopReq"}
    assert c.energy_transfer
    roundtrip(out)


def test_scheduled_start_with_offered_tuple() -> None:
    c = scheduled()
    out = pd.handle(req("Start", profile(1, 5_000.0, -2_000.0)), c, view(), 0.0)
    assert code(out) == "OK" and c.schedule_tuple_id == 1


def test_dc_stop_turns_stage_off_and_leads_to_welding_detection() -> None:
    c = ctx("DC", "Dynamic")
    c.energy_transfer = True
    out = pd.handle(req("Stop"), c, view(), 0.0)
    assert actions_of(out, EnergyTransfer) == [EnergyTransfer(start=False)]
    assert DcCommand("off") in out.actions
    assert out.next == {"DC_WeldingDetectionReq", "SessionStopReq"}
    assert not c.energy_transfer


def test_ac_stop_leads_to_session_stop() -> None:
    c = ctx("AC", "Dynamic")
    out = pd.handle(req("Stop"), c, view(), 0.0)
    assert out.next == {"SessionStopReq"} and not actions_of(out, DcCommand)


def test_standby_keeps_loop_without_power() -> None:
    c = ctx("DC", "Dynamic")
    out = pd.handle(req("Standby"), c, view(), 0.0)
    assert code(out) == "OK"
    assert actions_of(out, EnergyTransfer) == [EnergyTransfer(start=False, standby=True)]
    assert "DC_ChargeLoopReq" in out.next


def test_ev_processing_ongoing_asks_again_without_action() -> None:
    out = pd.handle(req("Start", processing="Ongoing"), ctx("AC"), view(), 0.0)
    assert code(out) == "OK" and not out.actions
    assert out.next == {"PowerDeliveryReq", "SessionStopReq"}


def test_schedule_renegotiation_from_loop_goes_to_schedule_exchange() -> None:
    c = ctx("AC", "Scheduled")
    c.energy_transfer = True
    out = pd.handle(req("ScheduleRenegotiation"), c, view(), 0.0)
    assert code(out) == "OK" and out.next == {"ScheduleExchangeReq", "SessionStopReq"}


def test_schedule_renegotiation_outside_loop_sequence_error() -> None:
    out = pd.handle(req("ScheduleRenegotiation"), ctx("AC"), view(), 0.0)
    assert code(out) == "FAILED_SequenceError" and not out.next


def test_failed_schedule_selection_invalid() -> None:
    out = pd.handle(req("Start", profile(7)), scheduled(), view(), 0.0)
    assert code(out) == "FAILED_ScheduleSelectionInvalid" and not out.next
    assert EnergyTransfer(start=False) in out.actions
    roundtrip(out)


def test_failed_ev_power_profile_invalid_without_profile() -> None:
    out = pd.handle(req("Start", None), scheduled(), view(), 0.0)
    assert code(out) == "FAILED_EVPowerProfileInvalid"


def test_failed_ev_power_profile_violation_above_offered_schedule() -> None:
    out = pd.handle(req("Start", profile(1, 9_000.0)), scheduled(), view(), 0.0)
    assert code(out) == "FAILED_EVPowerProfileViolation"
    out2 = pd.handle(req("Start", profile(1, -4_000.0)), scheduled(), view(), 0.0)
    assert code(out2) == "FAILED_EVPowerProfileViolation"


def test_failed_power_delivery_not_applied_discharge_without_q01() -> None:
    """OCPP 2.1 Q01: no discharge unless allowedEnergyTransfer includes it."""
    out = pd.handle(req("Start", profile(None), channel="Discharge"), ctx("DC_BPT"),
                    view(may_discharge=False), 0.0)
    assert code(out) == "FAILED_PowerDeliveryNotApplied"
    assert DcCommand("off") in out.actions


def test_unknown_session() -> None:
    r_ = req("Stop")
    r_.Header.SessionID = b"\x02" * 8
    assert code(pd.handle(r_, ctx("AC"), view(), 0.0)) == "FAILED_UnknownSession"


def test_precharge_left_unfinished_does_not_leak_into_a_later_one() -> None:
    """PreCharge -> PowerDeliveryReq (allowed without EVProcessing=Finished), later a
    resumed session precharges again: its time starts anew, its target is commanded."""
    from evse.iso15118.d20 import dc_pre_charge as pc
    from evse.iso15118.exi._generated.dc_types import DC_PreChargeReqType

    c = ctx("DC", "Dynamic", precharge_s=10.0)
    pre = DC_PreChargeReqType(Header=hdr(), EVProcessing="Ongoing", EVPresentVoltage=r(0.0),
                              EVTargetVoltage=r(400.0))
    pc.handle(pre, c, view(), 0.0)
    pd.handle(req("Start", profile(None)), c, view(), 1.0)
    pd.handle(req("Stop"), c, view(), 100.0)
    later = pc.handle(pre, c, view(), 500.0)
    assert code(later) == "OK"
    assert DcCommand("precharge", target_v=400.0, target_a=0.0) in later.actions
