"""The car's side for the common -20 handler tests: requests built with the generated
classes, a station snapshot, a config, and a V2GTP frame helper."""

from __future__ import annotations

import itertools
from typing import Any

from evse.iso15118 import v2gtp
from evse.iso15118.d20.types import SeccConfig, SeccLimits, SessionContext, StationView
from evse.iso15118.exi import Codec, find_namespace
from evse.iso15118.exi._generated import app_types as app
from evse.iso15118.exi._generated import common_types as cm
from evse.iso15118.exi._generated.shared_types import MessageHeaderType

AC_URN = "urn:iso:std:iso:15118:-20:AC"
DC_URN = "urn:iso:std:iso:15118:-20:DC"
ZERO = b"\x00" * 8


def config(**kw: Any) -> SeccConfig:
    base: dict[str, Any] = dict(
        evse_id=1,
        evseid="DE*ABC*E1",
        services=("AC", "AC_BPT"),
        control_modes=("Scheduled", "Dynamic"),
        limits=SeccLimits(11000, 11000, 16, 16),
    )
    base.update(kw)
    return SeccConfig(**base)


def counter_bytes() -> Any:
    """Deterministic SessionIDs: 01.., 02.., ..."""
    n = itertools.count(1)
    return lambda k: bytes([next(n)]) * k


def context(cfg: SeccConfig | None = None, **kw: Any) -> SessionContext:
    ctx = SessionContext(cfg or config(), random_bytes=counter_bytes())
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def view(**kw: Any) -> StationView:
    return StationView(epoch_s=1_800_000_000, **kw)


def hdr(session_id: bytes = ZERO) -> MessageHeaderType:
    return MessageHeaderType(SessionID=session_id, TimeStamp=1_800_000_000)


def sap(*protocols: tuple[str, int, int, int, int]) -> app.supportedAppProtocolReqType:
    """(namespace, major, minor, schema id, priority) per offered protocol."""
    return app.supportedAppProtocolReqType(
        AppProtocol=[
            app.AppProtocolType(
                ProtocolNamespace=ns,
                VersionNumberMajor=major,
                VersionNumberMinor=minor,
                SchemaID=sid,
                Priority=prio,
            )
            for ns, major, minor, sid, prio in protocols
        ]
    )


def session_setup(sid: bytes = ZERO) -> cm.SessionSetupReqType:
    return cm.SessionSetupReqType(Header=hdr(sid), EVCCID="WMIV1234567890ABCDEX")


def authorization_setup(sid: bytes) -> cm.AuthorizationSetupReqType:
    return cm.AuthorizationSetupReqType(Header=hdr(sid))


def authorization(sid: bytes, service: str = "EIM") -> cm.AuthorizationReqType:
    return cm.AuthorizationReqType(
        Header=hdr(sid),
        SelectedAuthorizationService=service,  # type: ignore[arg-type]
        EIM_AReqAuthorizationMode=cm.EIM_AReqAuthorizationModeType() if service == "EIM" else None,
    )


def service_discovery(sid: bytes, ids: list[int] | None = None) -> cm.ServiceDiscoveryReqType:
    return cm.ServiceDiscoveryReqType(
        Header=hdr(sid),
        SupportedServiceIDs=cm.ServiceIDListType(ServiceID=ids) if ids is not None else None,
    )


def service_detail(sid: bytes, service_id: int) -> cm.ServiceDetailReqType:
    return cm.ServiceDetailReqType(Header=hdr(sid), ServiceID=service_id)


def service_selection(
    sid: bytes, service_id: int, set_id: int, vas: list[tuple[int, int]] | None = None
) -> cm.ServiceSelectionReqType:
    return cm.ServiceSelectionReqType(
        Header=hdr(sid),
        SelectedEnergyTransferService=cm.SelectedServiceType(
            ServiceID=service_id, ParameterSetID=set_id
        ),
        SelectedVASList=cm.SelectedServiceListType(
            SelectedService=[cm.SelectedServiceType(ServiceID=s, ParameterSetID=p) for s, p in vas]
        )
        if vas
        else None,
    )


def session_stop(sid: bytes, kind: str = "Terminate") -> cm.SessionStopReqType:
    return cm.SessionStopReqType(Header=hdr(sid), ChargingSession=kind)  # type: ignore[arg-type]


_CODECS: dict[str, Codec] = {}


def codec(ns: str) -> Codec:
    if ns not in _CODECS:
        _CODECS[ns] = Codec.for_namespace(ns)
    return _CODECS[ns]


def frame(name: str, msg: Any) -> tuple[int, bytes]:
    """(payload type, EXI) of a request as the car sends it."""
    ns = "app" if name == "supportedAppProtocolReq" else "common"
    return codec(ns).namespace.payload_type, codec(ns).encode_message(name, msg)


def decode_reply(data: bytes) -> tuple[str, Any]:
    msg = v2gtp.unpack(data)
    assert isinstance(msg, v2gtp.V2gtpMessage), msg
    return codec(find_namespace(msg.payload_type).short).decode_message(msg.payload)
