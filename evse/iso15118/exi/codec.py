"""The EXI codec's front door: one `Codec` per ISO 15118 namespace.

`Codec.for_namespace("dc")` loads the generated tables of that grammar set; the V2GTP
payload type chooses the namespace (`NAMESPACES` maps both ways).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from evse.iso15118.exi.decoder import Decoder
from evse.iso15118.exi.encoder import Encoder
from evse.iso15118.exi.errors import ExiError


@dataclass(frozen=True)
class Namespace:
    short: str
    urn: str
    payload_type: int


NAMESPACES: tuple[Namespace, ...] = (
    Namespace("app", "urn:iso:15118:2:2010:AppProtocol", 0x8001),
    Namespace("common", "urn:iso:std:iso:15118:-20:CommonMessages", 0x8002),
    Namespace("ac", "urn:iso:std:iso:15118:-20:AC", 0x8003),
    Namespace("dc", "urn:iso:std:iso:15118:-20:DC", 0x8004),
    Namespace("acdp", "urn:iso:std:iso:15118:-20:ACDP", 0x8005),
    Namespace("wpt", "urn:iso:std:iso:15118:-20:WPT", 0x8006),
)


def find_namespace(key: str | int) -> Namespace:
    """A namespace by short name, URN, or V2GTP payload type."""
    for ns in NAMESPACES:
        if key in (ns.short, ns.urn, ns.payload_type):
            return ns
    raise ExiError(f"unknown namespace {key!r}")


class Codec:
    """Encoder and decoder for one namespace, between EXI bytes and the JSON form."""

    def __init__(self, namespace: Namespace) -> None:
        module = importlib.import_module(f"evse.iso15118.exi._generated.{namespace.short}")
        self.namespace = namespace
        self.decoder = Decoder(module.GRAMMARS, module.DATATYPES, module.ROOTS)
        self.encoder = Encoder(module.GRAMMARS, module.DATATYPES, module.ROOTS)

    @classmethod
    def for_namespace(cls, key: str | int) -> Codec:
        return cls(find_namespace(key))

    def decode(self, data: bytes) -> dict[str, Any]:
        return self.decoder.decode(data)

    def encode(self, document: dict[str, Any]) -> bytes:
        return self.encoder.encode(document)
