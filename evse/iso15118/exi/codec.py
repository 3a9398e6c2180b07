"""The EXI codec's front door: one `Codec` per ISO 15118 namespace.

`Codec.for_namespace("dc")` loads the generated tables of that grammar set; the V2GTP
payload type chooses the namespace (`NAMESPACES` maps both ways).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
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
        self._types: ModuleType | None = None

    @property
    def types(self) -> ModuleType:
        """The generated message classes of this namespace (imported on first use)."""
        if self._types is None:
            self._types = importlib.import_module(
                f"evse.iso15118.exi._generated.{self.namespace.short}_types"
            )
        return self._types

    @classmethod
    def for_namespace(cls, key: str | int) -> Codec:
        return cls(find_namespace(key))

    def decode(self, data: bytes) -> dict[str, Any]:
        return self.decoder.decode(data)

    def encode(self, document: dict[str, Any]) -> bytes:
        return self.encoder.encode(document)

    def decode_message(self, data: bytes) -> tuple[str, Any]:
        """Decode to (element name, instance of its generated message class)."""
        ((name, body),) = self.decode(data).items()
        cls = self.types.ELEMENTS.get(name)
        if cls is None:
            return name, body  # a global element of simple type: the plain value
        return name, cls.from_json(body)

    def encode_message(self, name: str, message: Any) -> bytes:
        """Encode an instance of a generated message class as the global element `name`."""
        cls = self.types.ELEMENTS.get(name)
        if cls is None or not isinstance(message, cls):
            expected = cls.__name__ if cls is not None else "a global element"
            raise ExiError(f"{name} needs a {expected}, got {type(message).__name__}", path=name)
        return self.encode({name: message.to_json()})
