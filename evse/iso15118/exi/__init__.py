"""Schema-informed EXI codec for ISO 15118-20 (and the supportedAppProtocol handshake).

    from evse.iso15118.exi import Codec, ExiError
    codec = Codec.for_namespace("dc")          # or a URN, or the V2GTP payload type 0x8004
    doc = codec.decode(payload)                # JSON form: {"DC_ChargeLoopReq": {...}}
    payload = codec.encode(doc)
    name, msg = codec.decode_message(payload)  # typed: dc_types.DC_ChargeLoopReqType

Grammar tables and message classes are generated from the ISO XSDs into `_generated/`
by `make grammars` (see `generator/`).
"""

from evse.iso15118.exi.codec import NAMESPACES, Codec, Namespace, find_namespace
from evse.iso15118.exi.errors import ExiError

__all__ = ["NAMESPACES", "Codec", "ExiError", "Namespace", "find_namespace"]
