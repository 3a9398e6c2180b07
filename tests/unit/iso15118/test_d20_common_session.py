"""The -20 dispatcher (`d20/session.py`): encoded requests in, frames and actions out,
with a fake clock. Sequence errors, unknown sessions, undecodable input, the sequence
timeout, and pause / resume across two sessions (two connections)."""

from __future__ import annotations

from typing import Any

import pytest
from d20_requests import (
    AC_URN,
    authorization,
    authorization_setup,
    codec,
    config,
    counter_bytes,
    decode_reply,
    frame,
    sap,
    service_detail,
    service_discovery,
    service_selection,
    session_setup,
    session_stop,
    view,
)

from evse.iso15118 import v2gtp
from evse.iso15118.d20.failed_response import failed_response
from evse.iso15118.d20.registry import COMMON_HANDLERS, build
from evse.iso15118.d20.session import Codecs, PausedSessions, Reply, Session
from evse.iso15118.d20.types import EnergyTransfer, SessionEnded, StartAuthorization
from evse.iso15118.exi._generated import common_types as cm
from evse.iso15118.exi._generated.shared_types import MessageHeaderType

CODECS = Codecs()
SID1 = b"\x01" * 8


def new_session(paused: PausedSessions | None = None, now: float = 0.0, **kw: Any) -> Session:
    return Session(
        config(**kw),
        now,
        codecs=CODECS,
        paused=paused if paused is not None else PausedSessions(),
        random_bytes=counter_bytes(),
    )


def send(s: Session, name: str, msg: Any, now: float, **v: Any) -> tuple[Reply, str, Any]:
    ptype, exi = frame(name, msg)
    reply = s.receive(ptype, exi, view(**v), now)
    if not reply.data:
        return reply, "", None
    res_name, res = decode_reply(reply.data)
    return reply, res_name, res


def to_selection(s: Session, sid: bytes = SID1, set_id: int = 2) -> None:
    """SAP .. ServiceSelection (AC_BPT, Dynamic), all OK."""
    assert send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 1.0)[2].SchemaID == 3
    _, _, res = send(s, "SessionSetupReq", session_setup(), 2.0)
    assert res.ResponseCode == "OK_NewSessionEstablished"
    assert send(s, "AuthorizationSetupReq", authorization_setup(sid), 3.0)[2].ResponseCode == "OK"
    reply, _, res = send(s, "AuthorizationReq", authorization(sid), 4.0, authorization="pending")
    assert reply.actions == (StartAuthorization("EIM"),) and res.EVSEProcessing == "Ongoing"
    _, _, res = send(s, "AuthorizationReq", authorization(sid), 5.0, authorization="accepted")
    assert res.EVSEProcessing == "Finished"
    _, _, res = send(s, "ServiceDiscoveryReq", service_discovery(sid), 6.0, may_discharge=True)
    assert [x.ServiceID for x in res.EnergyTransferServiceList.Service] == [1, 5]
    assert send(s, "ServiceDetailReq", service_detail(sid, 5), 7.0)[2].ResponseCode == "OK"
    _, _, res = send(s, "ServiceSelectionReq", service_selection(sid, 5, set_id), 8.0)
    assert res.ResponseCode == "OK"


def test_a_session_through_service_selection_and_terminate() -> None:
    s = new_session()
    to_selection(s)
    assert s.next == {"AC_ChargeParameterDiscoveryReq", "SessionStopReq"}
    reply, name, res = send(s, "SessionStopReq", session_stop(SID1), 9.0)
    assert (name, res.ResponseCode, reply.ended) == ("SessionStopRes", "OK", True)
    assert SessionEnded("terminate") in reply.actions
    assert s.ended


def test_request_out_of_sequence_is_failed_sequence_error_and_ends() -> None:
    s = new_session()
    send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 1.0)
    send(s, "SessionSetupReq", session_setup(), 2.0)
    reply, name, res = send(s, "ServiceDiscoveryReq", service_discovery(SID1), 3.0)
    assert (name, res.ResponseCode) == ("ServiceDiscoveryRes", "FAILED_SequenceError")
    assert reply.ended and any(isinstance(a, SessionEnded) for a in reply.actions)
    # nothing more is answered on this session
    assert send(s, "AuthorizationSetupReq", authorization_setup(SID1), 4.0)[0].data == b""


def test_session_setup_before_the_handshake_is_a_sequence_error() -> None:
    s = new_session()
    reply, name, res = send(s, "SessionSetupReq", session_setup(), 1.0)
    assert (name, res.ResponseCode, reply.ended) == (
        "SessionSetupRes",
        "FAILED_SequenceError",
        True,
    )


def test_wrong_session_id_is_failed_unknown_session_and_ends() -> None:
    s = new_session()
    send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 1.0)
    send(s, "SessionSetupReq", session_setup(), 2.0)
    reply, name, res = send(s, "AuthorizationSetupReq", authorization_setup(b"\x07" * 8), 3.0)
    assert (name, res.ResponseCode, reply.ended) == (
        "AuthorizationSetupRes",
        "FAILED_UnknownSession",
        True,
    )
    assert res.Header.SessionID == SID1


def test_undecodable_exi_ends_the_session_without_raising() -> None:
    s = new_session()
    send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 1.0)
    reply = s.receive(v2gtp.COMMON, b"\x80\xff\xff\xff\x00", view(), 2.0)
    assert reply.data == b"" and reply.ended
    assert any(isinstance(a, SessionEnded) for a in reply.actions)


def test_a_payload_type_not_served_ends_the_session() -> None:
    s = new_session()
    reply = s.receive(v2gtp.WPT, b"\x80", view(), 1.0)
    assert reply.ended and reply.data == b""


def test_a_response_sent_as_request_ends_the_session() -> None:
    s = new_session()
    res = failed_response(
        codec("common"),
        "SessionSetupRes",
        "OK",
        MessageHeaderType(SessionID=SID1, TimeStamp=1),
    )
    exi = codec("common").encode_message("SessionSetupRes", res)
    assert s.receive(v2gtp.COMMON, exi, view(), 1.0).ended


def test_sequence_timeout_60_s_between_requests_ends_the_session() -> None:
    s = new_session(now=100.0)
    send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 101.0)
    assert s.deadline == 161.0
    assert s.poll(160.9) is None
    reply = s.poll(161.0)
    assert reply is not None and reply.ended
    assert SessionEnded("sequence_timeout") in reply.actions
    assert s.poll(200.0) is None  # once


def test_a_request_arriving_after_the_timeout_is_not_answered() -> None:
    s = new_session()
    send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 1.0)
    reply, _, _ = send(s, "SessionSetupReq", session_setup(), 61.5)
    assert reply.data == b"" and reply.ended


def test_an_allowed_request_without_a_handler_is_failed_and_ends() -> None:
    s = Session(
        config(),
        0.0,
        codecs=CODECS,
        paused=PausedSessions(),
        handlers=build(COMMON_HANDLERS),  # no energy handlers
        random_bytes=counter_bytes(),
    )
    to_selection(s)
    s.next = s.next | {"PowerDeliveryReq"}
    pd = cm.PowerDeliveryReqType(
        Header=MessageHeaderType(SessionID=SID1, TimeStamp=1),
        EVProcessing="Finished",
        ChargeProgress="Start",
    )
    reply, name, res = send(s, "PowerDeliveryReq", pd, 9.0)
    assert (name, res.ResponseCode, reply.ended) == ("PowerDeliveryRes", "FAILED", True)


def test_pause_then_resume_with_the_old_id_joins_and_skips_to_cpd() -> None:
    paused = PausedSessions()
    first = new_session(paused)
    to_selection(first)
    reply, _, res = send(first, "SessionStopReq", session_stop(SID1, "Pause"), 9.0)
    assert res.ResponseCode == "OK" and reply.ended
    assert SessionEnded("pause", paused=True) in reply.actions
    assert len(paused) == 1

    second = new_session(paused, now=100.0)
    send(second, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 101.0)
    _, _, res = send(second, "SessionSetupReq", session_setup(SID1), 102.0)
    assert res.ResponseCode == "OK_OldSessionJoined"
    assert res.Header.SessionID == SID1
    assert (second.ctx.service, second.ctx.control_mode) == ("AC_BPT", "Dynamic")
    assert "AC_ChargeParameterDiscoveryReq" in second.next
    assert len(paused) == 0  # taken: a second resume with that id is a new session


def test_resume_needs_the_same_tls_peer_as_the_paused_session() -> None:
    paused = PausedSessions()
    first = Session(
        config(), 0.0, codecs=CODECS, paused=paused, random_bytes=counter_bytes(), peer=b"car-A"
    )
    to_selection(first)
    send(first, "SessionStopReq", session_stop(SID1, "Pause"), 9.0)
    for peer, code in (
        (b"car-B", "OK_NewSessionEstablished"),
        (None, "OK_NewSessionEstablished"),
        (b"car-A", "OK_OldSessionJoined"),
    ):
        s = Session(
            config(), 10.0, codecs=CODECS, paused=paused, random_bytes=counter_bytes(), peer=peer
        )
        send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 11.0)
        assert send(s, "SessionSetupReq", session_setup(SID1), 12.0)[2].ResponseCode == code


def test_resume_with_an_unknown_id_is_a_new_session() -> None:
    s = new_session()
    send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 1.0)
    _, _, res = send(s, "SessionSetupReq", session_setup(b"\x33" * 8), 2.0)
    assert res.ResponseCode == "OK_NewSessionEstablished"
    assert s.next == {"AuthorizationSetupReq", "SessionStopReq"}


def test_paused_sessions_are_bounded_oldest_first() -> None:
    paused = PausedSessions(limit=2)
    for i in range(1, 4):
        s = new_session(paused)
        s.ctx.session_id, s.ctx.namespace, s.ctx.service = bytes([i]) * 8, "ac", "AC"
        paused.put(s.ctx)
    assert len(paused) == 2
    assert paused.take(b"\x01" * 8, "ac") is None
    assert paused.take(b"\x02" * 8, "dc") is None  # another namespace: not this session
    assert paused.take(b"\x03" * 8, "ac") is not None


def test_service_renegotiation_returns_to_service_discovery() -> None:
    s = new_session()
    to_selection(s)
    _, _, res = send(s, "SessionStopReq", session_stop(SID1, "ServiceRenegotiation"), 9.0)
    assert res.ResponseCode == "OK" and not s.ended
    _, _, res = send(s, "ServiceDiscoveryReq", service_discovery(SID1), 10.0)
    assert [x.ServiceID for x in res.EnergyTransferServiceList.Service] == [1]
    _, _, res = send(s, "ServiceSelectionReq", service_selection(SID1, 1, 1), 11.0)
    assert res.ResponseCode == "OK"
    assert (s.ctx.service, s.ctx.control_mode) == ("AC", "Scheduled")


def test_energy_transfer_is_stopped_when_a_session_ends_on_an_error() -> None:
    s = new_session()
    to_selection(s)
    s.ctx.energy_transfer = True  # as PowerDelivery Start would leave it
    reply, _, res = send(s, "ServiceDiscoveryReq", service_discovery(SID1), 9.0)
    assert res.ResponseCode == "FAILED_SequenceError"
    assert EnergyTransfer(start=False) in reply.actions


@pytest.mark.parametrize("ns", ["common", "ac", "dc"])
def test_every_response_has_an_encodable_failed_form(ns: str) -> None:
    c = codec(ns)
    h = MessageHeaderType(SessionID=SID1, TimeStamp=1)
    for name in c.types.ELEMENTS:
        if name.endswith("Res"):
            res = failed_response(c, name, "FAILED_SequenceError", h)
            assert c.decode_message(c.encode_message(name, res)) == (name, res)


COMMON_REQUESTS = [
    ("AuthorizationSetupReq", lambda sid: authorization_setup(sid)),
    ("AuthorizationReq", lambda sid: authorization(sid)),
    ("ServiceDiscoveryReq", lambda sid: service_discovery(sid)),
    ("ServiceDetailReq", lambda sid: service_detail(sid, 1)),
    ("ServiceSelectionReq", lambda sid: service_selection(sid, 1, 1)),
    ("SessionStopReq", lambda sid: session_stop(sid)),
]


@pytest.mark.parametrize(("name", "build"), COMMON_REQUESTS)
def test_each_common_request_out_of_sequence_gets_its_own_res_with_sequence_error(
    name: str, build: Any
) -> None:
    s = new_session()
    send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 1.0)
    reply, res_name, res = send(s, name, build(SID1), 2.0)  # SessionSetup comes first
    assert (res_name, res.ResponseCode) == (name[:-3] + "Res", "FAILED_SequenceError")
    assert reply.ended


@pytest.mark.parametrize(("name", "build"), COMMON_REQUESTS)
def test_each_common_request_with_a_wrong_session_id_gets_unknown_session(
    name: str, build: Any
) -> None:
    s = new_session()
    send(s, "supportedAppProtocolReq", sap((AC_URN, 1, 0, 3, 1)), 1.0)
    send(s, "SessionSetupReq", session_setup(), 2.0)
    s.next = frozenset({name})  # where the sequence allows it
    reply, res_name, res = send(s, name, build(b"\x42" * 8), 3.0)
    assert (res_name, res.ResponseCode) == (name[:-3] + "Res", "FAILED_UnknownSession")
    assert reply.ended and res.Header.SessionID == SID1
