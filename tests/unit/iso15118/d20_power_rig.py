"""Helpers for the energy-handler tests: a session context after ServiceSelection, a
station snapshot, request builders, and a round trip of every answer through the EXI
codec (an answer that does not encode would never reach the car)."""

from __future__ import annotations

import dataclasses
from typing import Any

from evse.iso15118.d20.rational import from_float as rn
from evse.iso15118.d20.types import (
    ControlMode,
    DcState,
    Outcome,
    SeccConfig,
    SeccLimits,
    ServiceName,
    SessionContext,
    StationView,
)
from evse.iso15118.exi import Codec
from evse.iso15118.exi._generated.shared_types import MessageHeaderType

SID = bytes.fromhex("0102030405060708")
LIMITS = SeccLimits(max_charge_w=11_000.0, max_discharge_w=11_000.0, max_charge_a=16.0,
                    max_discharge_a=16.0, min_v=150.0, max_v=900.0, nominal_v=230.0, phases=3)
DC_LIMITS = dataclasses.replace(LIMITS, max_charge_w=50_000.0, max_discharge_w=20_000.0,
                                max_charge_a=125.0, max_discharge_a=50.0)


def ctx(service: ServiceName = "DC", mode: ControlMode = "Dynamic",
        limits: SeccLimits | None = None, **cfg: Any) -> SessionContext:
    if limits is None:
        limits = LIMITS if service.startswith("AC") else DC_LIMITS
    config = SeccConfig(evse_id=1, evseid="DE*ABC*E1", services=(service,),
                        control_modes=(mode,), limits=limits, **cfg)
    ns = "ac" if service.startswith("AC") else "dc"
    return SessionContext(config=config, session_id=SID, namespace=ns, service=service,
                          control_mode=mode)


def view(**kw: Any) -> StationView:
    base: dict[str, Any] = {"epoch_s": 1_790_000_000, "authorization": "accepted",
                            "may_discharge": True}
    base.update(kw)
    return StationView(**base)


def dc(**kw: Any) -> DcState:
    return DcState(**kw)


def hdr(sid: bytes = SID) -> MessageHeaderType:
    return MessageHeaderType(SessionID=sid, TimeStamp=1_790_000_000)


def r(x: float) -> Any:
    return rn(x)


def code(out: Outcome) -> str:
    return str(out.response.ResponseCode)


def roundtrip(out: Outcome) -> Any:
    """Encode the answer with the EXI codec and decode it again."""
    codec = Codec.for_namespace(out.namespace)
    data = codec.encode_message(out.response_name, out.response)
    name, msg = codec.decode_message(data)
    assert name == out.response_name
    return msg


def actions_of(out: Outcome, cls: type) -> list[Any]:
    return [a for a in out.actions if isinstance(a, cls)]
