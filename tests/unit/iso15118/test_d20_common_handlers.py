"""The common -20 handlers (ISO 15118-20), called directly with a fake
clock: each FAILED_* / WARNING_* path the standard names for them, and the OK paths."""

from __future__ import annotations

import pytest
from d20_requests import (
    AC_URN,
    DC_URN,
    authorization,
    authorization_setup,
    config,
    context,
    sap,
    service_detail,
    service_discovery,
    service_selection,
    session_setup,
    session_stop,
    view,
)

from evse.iso15118.d20 import (
    authorization as auth_h,
)
from evse.iso15118.d20 import (
    authorization_setup as auth_setup_h,
)
from evse.iso15118.d20 import (
    service_detail as detail_h,
)
from evse.iso15118.d20 import (
    service_discovery as discovery_h,
)
from evse.iso15118.d20 import (
    service_selection as selection_h,
)
from evse.iso15118.d20 import (
    session_setup as setup_h,
)
from evse.iso15118.d20 import (
    session_stop as stop_h,
)
from evse.iso15118.d20 import (
    supported_app_protocol as sap_h,
)
from evse.iso15118.d20.types import (
    EnergyTransfer,
    SessionEnded,
    StartAuthorization,
)

SID = b"\x01" * 8


# --- supportedAppProtocol ---------------------------------------------------------------


def test_sap_picks_the_served_namespace_with_the_highest_priority_V2G20_167() -> None:
    ctx = context(config(services=("AC", "DC")))
    out = sap_h.handle(sap((DC_URN, 1, 0, 7, 2), (AC_URN, 1, 0, 9, 1)), ctx, view(), 0.0)
    assert out.response.ResponseCode == "OK_SuccessfulNegotiation"
    assert out.response.SchemaID == 9
    assert ctx.namespace == "ac"
    assert out.next == {"SessionSetupReq"}


def test_sap_skips_a_namespace_this_evse_does_not_serve() -> None:
    ctx = context(config(services=("DC", "DC_BPT")))
    out = sap_h.handle(sap((AC_URN, 1, 0, 1, 1), (DC_URN, 1, 0, 2, 2)), ctx, view(), 0.0)
    assert (out.response.ResponseCode, out.response.SchemaID, ctx.namespace) == (
        "OK_SuccessfulNegotiation",
        2,
        "dc",
    )


def test_sap_minor_version_mismatch_is_a_minor_deviation() -> None:
    out = sap_h.handle(sap((AC_URN, 1, 3, 4, 1)), context(), view(), 0.0)
    assert out.response.ResponseCode == "OK_SuccessfulNegotiationWithMinorDeviation"
    assert out.response.SchemaID == 4


def test_sap_nothing_in_common_fails_and_ends() -> None:
    din = "urn:din:70121:2012:MsgDef"
    out = sap_h.handle(sap((din, 2, 0, 1, 1), (AC_URN, 2, 0, 2, 2)), context(), view(), 0.0)
    assert out.response.ResponseCode == "Failed_NoNegotiation"
    assert out.response.SchemaID is None
    assert out.next == frozenset()


# --- SessionSetup -----------------------------------------------------------------------


def test_session_setup_new_id_from_the_context_rng_and_evseid() -> None:
    ctx = context()
    out = setup_h.handle(session_setup(), ctx, view(), 0.0)
    assert out.response.ResponseCode == "OK_NewSessionEstablished"
    assert out.response.Header.SessionID == SID == ctx.session_id
    assert out.response.EVSEID == "DE*ABC*E1"
    assert ctx.evccid == "WMIV1234567890ABCDEX"
    assert out.next == {"AuthorizationSetupReq", "SessionStopReq"}


def test_session_setup_unknown_old_id_gets_a_new_session() -> None:
    ctx = context()
    out = setup_h.handle(session_setup(b"\x09" * 8), ctx, view(), 0.0)
    assert out.response.ResponseCode == "OK_NewSessionEstablished"
    assert ctx.session_id not in (b"\x09" * 8, b"\x00" * 8)


def test_session_setup_paused_context_joins_the_old_session_and_skips_to_cpd() -> None:
    ctx = context(session_id=b"\x05" * 8, paused=True, service="DC_BPT", namespace="dc")
    out = setup_h.handle(session_setup(b"\x05" * 8), ctx, view(), 0.0)
    assert out.response.ResponseCode == "OK_OldSessionJoined"
    assert out.response.Header.SessionID == b"\x05" * 8
    assert not ctx.paused
    assert "DC_ChargeParameterDiscoveryReq" in out.next


# --- AuthorizationSetup / Authorization -------------------------------------------------


def test_authorization_setup_offers_eim_only() -> None:
    out = auth_setup_h.handle(authorization_setup(SID), context(session_id=SID), view(), 0.0)
    res = out.response
    assert (res.ResponseCode, res.AuthorizationServices, res.CertificateInstallationService) == (
        "OK",
        ["EIM"],
        False,
    )
    assert res.EIM_ASResAuthorizationMode is not None and res.PnC_ASResAuthorizationMode is None
    assert out.next == {"AuthorizationReq", "SessionStopReq"}


def test_authorization_eim_starts_once_ongoing_while_pending_then_finished() -> None:
    ctx = context(session_id=SID)
    first = auth_h.handle(authorization(SID), ctx, view(authorization="none"), 10.0)
    assert first.actions == (StartAuthorization("EIM"),)
    assert (first.response.ResponseCode, first.response.EVSEProcessing) == ("OK", "Ongoing")
    again = auth_h.handle(authorization(SID), ctx, view(authorization="pending"), 30.0)
    assert again.actions == ()
    assert again.response.EVSEProcessing == "Ongoing"
    assert again.next == {"AuthorizationReq", "SessionStopReq"}
    done = auth_h.handle(authorization(SID), ctx, view(authorization="accepted"), 40.0)
    assert (done.response.ResponseCode, done.response.EVSEProcessing) == ("OK", "Finished")
    assert done.next == {"ServiceDiscoveryReq", "SessionStopReq"}


def test_authorization_rejected_is_eim_failure_V2G20_2230() -> None:
    ctx = context(session_id=SID)
    auth_h.handle(authorization(SID), ctx, view(authorization="pending"), 0.0)
    out = auth_h.handle(authorization(SID), ctx, view(authorization="rejected"), 1.0)
    assert (out.response.ResponseCode, out.response.EVSEProcessing) == (
        "WARNING_EIMAuthorizationFailure",
        "Finished",
    )
    assert out.next == {"SessionStopReq"}


def test_authorization_ongoing_is_bounded_then_failed_and_ends() -> None:
    ctx = context(config(ongoing_timeout_s=60.0), session_id=SID)
    auth_h.handle(authorization(SID), ctx, view(authorization="pending"), 100.0)
    still = auth_h.handle(authorization(SID), ctx, view(authorization="pending"), 159.9)
    assert still.response.EVSEProcessing == "Ongoing"
    out = auth_h.handle(authorization(SID), ctx, view(authorization="pending"), 160.0)
    assert (out.response.ResponseCode, out.response.EVSEProcessing) == ("FAILED", "Finished")
    assert out.next == frozenset()
    assert any(isinstance(a, SessionEnded) for a in out.actions)


def test_authorization_pnc_not_offered_is_selection_invalid_V2G20_2226() -> None:
    out = auth_h.handle(authorization(SID, "PnC"), context(session_id=SID), view(), 0.0)
    assert out.response.ResponseCode == "WARNING_AuthorizationSelectionInvalid"
    assert out.actions == ()
    assert "AuthorizationReq" in out.next


def test_authorization_already_accepted_does_not_ask_again() -> None:
    out = auth_h.handle(
        authorization(SID), context(session_id=SID), view(authorization="accepted"), 0
    )
    assert out.actions == ()
    assert out.response.EVSEProcessing == "Finished"


# --- ServiceDiscovery -------------------------------------------------------------------


def _ids(out: object) -> list[int]:
    return [s.ServiceID for s in out.response.EnergyTransferServiceList.Service]  # type: ignore[attr-defined]


def test_service_discovery_bpt_only_when_q01_allows_discharge() -> None:
    ctx = context(session_id=SID, namespace="ac")
    out = discovery_h.handle(service_discovery(SID), ctx, view(may_discharge=False), 0.0)
    assert _ids(out) == [1]
    assert ctx.offered_services == ("AC",)
    out = discovery_h.handle(service_discovery(SID), ctx, view(may_discharge=True), 0.0)
    assert _ids(out) == [1, 5]
    assert out.response.ServiceRenegotiationSupported is True
    assert out.next == {"ServiceDetailReq", "ServiceSelectionReq", "SessionStopReq"}


def test_service_discovery_only_the_negotiated_namespace() -> None:
    ctx = context(config(services=("AC", "DC", "DC_BPT")), session_id=SID, namespace="dc")
    out = discovery_h.handle(service_discovery(SID), ctx, view(may_discharge=True), 0.0)
    assert _ids(out) == [2, 6]


def test_service_discovery_nothing_to_offer_fails_and_ends() -> None:
    ctx = context(config(services=("AC_BPT",)), session_id=SID, namespace="ac")
    out = discovery_h.handle(service_discovery(SID), ctx, view(may_discharge=False), 0.0)
    assert out.response.ResponseCode == "FAILED"
    assert out.next == frozenset()


def test_service_discovery_respects_the_cars_supported_ids() -> None:
    ctx = context(session_id=SID, namespace="ac")
    out = discovery_h.handle(service_discovery(SID, [5]), ctx, view(may_discharge=True), 0.0)
    assert _ids(out) == [5]


# --- ServiceDetail ----------------------------------------------------------------------


def _params(out: object) -> dict[int, dict[str, int]]:
    sets = out.response.ServiceParameterList.ParameterSet  # type: ignore[attr-defined]
    return {s.ParameterSetID: {p.Name: p.intValue for p in s.Parameter} for s in sets}


def test_service_detail_ac_bpt_parameter_sets_per_control_mode() -> None:
    ctx = context(session_id=SID, offered_services=("AC", "AC_BPT"))
    out = detail_h.handle(service_detail(SID, 5), ctx, view(), 0.0)
    assert out.response.ResponseCode == "OK"
    assert _params(out) == {
        1: {
            "Connector": 2,
            "ControlMode": 1,
            "EVSENominalVoltage": 230,
            "MobilityNeedsMode": 1,
            "Pricing": 0,
            "BPTChannel": 1,
            "GeneratorMode": 1,
            "GridCodeIslandingDetectionMethod": 2,
        },
        2: {
            "Connector": 2,
            "ControlMode": 2,
            "EVSENominalVoltage": 230,
            "MobilityNeedsMode": 1,
            "Pricing": 0,
            "BPTChannel": 1,
            "GeneratorMode": 1,
            "GridCodeIslandingDetectionMethod": 2,
        },
    }


def test_service_detail_dc_without_bpt_parameters() -> None:
    ctx = context(config(services=("DC",), control_modes=("Dynamic",)), offered_services=("DC",))
    out = detail_h.handle(service_detail(ctx.session_id, 2), ctx, view(), 0.0)
    assert _params(out) == {
        2: {"Connector": 2, "ControlMode": 2, "MobilityNeedsMode": 1, "Pricing": 0}
    }


@pytest.mark.parametrize("service_id", [2, 6, 65])
def test_service_detail_not_offered_is_service_id_invalid_V2G20_464(service_id: int) -> None:
    ctx = context(session_id=SID, offered_services=("AC", "AC_BPT"))
    out = detail_h.handle(service_detail(SID, service_id), ctx, view(), 0.0)
    assert out.response.ResponseCode == "FAILED_ServiceIDInvalid"
    assert out.next == frozenset()


# --- ServiceSelection -------------------------------------------------------------------


def test_service_selection_sets_service_mode_and_points_to_cpd() -> None:
    ctx = context(session_id=SID, offered_services=("AC", "AC_BPT"), namespace="ac")
    out = selection_h.handle(service_selection(SID, 5, 2), ctx, view(), 0.0)
    assert out.response.ResponseCode == "OK"
    assert (ctx.service, ctx.control_mode, ctx.parameter_set_id) == ("AC_BPT", "Dynamic", 2)
    assert out.next == {"AC_ChargeParameterDiscoveryReq", "SessionStopReq"}


@pytest.mark.parametrize(
    ("service_id", "set_id", "vas", "code"),
    [
        (6, 1, None, "FAILED_NoEnergyTransferServiceSelected"),  # not offered here
        (5, 1, None, "FAILED_NoEnergyTransferServiceSelected"),  # BPT was not offered
        (65, 1, None, "FAILED_NoEnergyTransferServiceSelected"),  # not energy transfer
        (1, 3, None, "FAILED_ServiceSelectionInvalid"),  # no such parameter set
        (1, 1, [(65, 1)], "FAILED_ServiceSelectionInvalid"),  # no VAS offered
    ],
)
def test_service_selection_invalid_selections_fail_and_end(
    service_id: int, set_id: int, vas: list[tuple[int, int]] | None, code: str
) -> None:
    ctx = context(session_id=SID, offered_services=("AC",), namespace="ac")
    out = selection_h.handle(service_selection(SID, service_id, set_id, vas), ctx, view(), 0.0)
    assert out.response.ResponseCode == code
    assert out.next == frozenset()
    assert ctx.service is None


def test_service_selection_dynamic_only_config_rejects_scheduled_set() -> None:
    ctx = context(config(control_modes=("Dynamic",)), session_id=SID, offered_services=("AC",))
    out = selection_h.handle(service_selection(SID, 1, 1), ctx, view(), 0.0)
    assert out.response.ResponseCode == "FAILED_ServiceSelectionInvalid"


# --- SessionStop ------------------------------------------------------------------------


def test_session_stop_terminate_ends_and_stops_power() -> None:
    ctx = context(session_id=SID, service="AC", energy_transfer=True)
    out = stop_h.handle(session_stop(SID), ctx, view(), 0.0)
    assert out.response.ResponseCode == "OK"
    assert out.next == frozenset()
    assert EnergyTransfer(start=False) in out.actions
    assert SessionEnded("terminate") in out.actions


def test_session_stop_pause_keeps_the_context() -> None:
    ctx = context(session_id=SID, service="AC_BPT")
    out = stop_h.handle(session_stop(SID, "Pause"), ctx, view(), 0.0)
    assert out.response.ResponseCode == "OK"
    assert ctx.paused
    assert SessionEnded("pause", paused=True) in out.actions


def test_session_stop_pause_before_a_service_is_selected_is_not_allowed() -> None:
    ctx = context(session_id=SID)
    out = stop_h.handle(session_stop(SID, "Pause"), ctx, view(), 0.0)
    assert out.response.ResponseCode == "FAILED_PauseNotAllowed"
    assert not ctx.paused and out.next == frozenset()


def test_session_stop_service_renegotiation_goes_back_to_discovery_V2G20_1477() -> None:
    ctx = context(session_id=SID, service="AC")
    out = stop_h.handle(session_stop(SID, "ServiceRenegotiation"), ctx, view(), 0.0)
    assert out.response.ResponseCode == "OK"
    assert out.next == {"ServiceDiscoveryReq", "SessionStopReq"}
    assert not any(isinstance(a, SessionEnded) for a in out.actions)


def test_session_stop_renegotiation_not_supported_fails() -> None:
    ctx = context(config(service_renegotiation=False), session_id=SID, service="AC")
    out = stop_h.handle(session_stop(SID, "ServiceRenegotiation"), ctx, view(), 0.0)
    assert out.response.ResponseCode == "FAILED_NoServiceRenegotiationSupported"
    assert out.next == frozenset()
