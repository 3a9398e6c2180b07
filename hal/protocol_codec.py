"""The hal contract's codec: frames (4-byte length + CBOR map) and typed messages.

Part of the contract (`hal/protocol.py` re-exports everything here; import from there).
Every field of an incoming message is checked against its declared type before a
message object exists, so a handler never sees a wrong type.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

import cbor2

from hal.protocol import (
    _HEADER,
    E_FRAME_TOO_LARGE,
    E_INVALID_FIELD,
    E_MALFORMED,
    E_UNKNOWN_TYPE,
    MAX_FRAME_BYTES,
    Ack,
    AllowPowerOn,
    ConnectorLock,
    DcCommand,
    DcReport,
    DerDirectives,
    DirectiveResult,
    Error,
    Event,
    GridConstraintReport,
    GridMeterReport,
    Hello,
    KeepAlive,
    Measurement,
    Message,
    PilotCommand,
    PowerRequest,
    ProtocolError,
    Welcome,
)

MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        KeepAlive,
        PowerRequest,
        DerDirectives,
        PilotCommand,
        AllowPowerOn,
        ConnectorLock,
        Welcome,
        Measurement,
        Event,
        GridConstraintReport,
        DirectiveResult,
        Error,
        Ack,
        GridMeterReport,
        DcCommand,
        DcReport,
    )
}


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str
    kind: Any
    required: bool


def _specs(cls: type[Message]) -> list[_FieldSpec]:
    hints = typing.get_type_hints(cls)
    return [
        _FieldSpec(f.name, hints[f.name], f.default is MISSING and f.default_factory is MISSING)
        for f in fields(cls)
    ]


_SPECS: dict[str, list[_FieldSpec]] = {name: _specs(cls) for name, cls in MESSAGE_TYPES.items()}


def _check(path: str, value: Any, kind: Any) -> None:
    """Strict type check of one decoded value against its annotation."""
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in typing.get_args(kind):
            return
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        _check(path, value, inner[0])
        return
    if kind is Any:
        return
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        )
    elif kind is str:
        ok = isinstance(value, str)
    elif origin is list:
        if not isinstance(value, list):
            raise ProtocolError(E_INVALID_FIELD, f"{path}: expected a list")
        (item,) = typing.get_args(kind)
        for i, v in enumerate(value):
            _check(f"{path}[{i}]", v, item)
        return
    elif origin is dict:
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
    else:  # pragma: no cover - a new annotation kind needs a branch here
        raise TypeError(f"unsupported field type {kind!r}")
    if not ok:
        raise ProtocolError(E_INVALID_FIELD, f"{path}: expected {getattr(kind, '__name__', kind)}")


def decode_message(payload: bytes) -> Message:
    try:
        obj = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise ProtocolError(E_MALFORMED, f"not CBOR: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(E_MALFORMED, "a message must be a CBOR map")
    name = obj.get("type")
    if not isinstance(name, str):
        raise ProtocolError(E_MALFORMED, "missing 'type'")
    cls = MESSAGE_TYPES.get(name)
    if cls is None:
        raise ProtocolError(E_UNKNOWN_TYPE, f"unknown message type {name!r}")
    kwargs: dict[str, Any] = {}
    known = {"type"}
    for spec in _SPECS[name]:
        known.add(spec.name)
        if spec.name not in obj:
            if spec.required:
                raise ProtocolError(E_INVALID_FIELD, f"{name}.{spec.name}: required")
            continue
        value = obj[spec.name]
        _check(f"{name}.{spec.name}", value, spec.kind)
        if spec.kind is float and isinstance(value, int):
            value = float(value)
        kwargs[spec.name] = value
    extra = set(obj) - known
    if extra:
        raise ProtocolError(E_INVALID_FIELD, f"{name}: unknown fields {sorted(map(str, extra))}")
    return cls(**kwargs)


def encode_message(msg: Message) -> bytes:
    """One complete frame (length prefix + CBOR) for `msg`."""
    body = asdict(msg)
    body["type"] = msg.TYPE
    payload: bytes = cbor2.dumps(body)
    if len(payload) > MAX_FRAME_BYTES:
        raise ProtocolError(E_FRAME_TOO_LARGE, f"{msg.TYPE}: {len(payload)} bytes")
    return _HEADER.pack(len(payload)) + payload


def encode_raw(obj: Any) -> bytes:
    """A frame around any CBOR value (for tests and tools that speak the wire directly)."""
    payload: bytes = cbor2.dumps(obj)
    return _HEADER.pack(len(payload)) + payload


@dataclass(slots=True)
class FrameDecoder:
    """Splits a byte stream into payloads. An oversized length prefix cannot be skipped
    safely (the stream has lost its framing), so it is reported and `broken` is set:
    the connection answers with an error and closes; the daemon keeps serving."""

    max_frame: int = MAX_FRAME_BYTES
    _buf: bytearray = field(default_factory=bytearray)
    broken: bool = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.broken:
            return
        self._buf += data
        while len(self._buf) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._buf)
            if length > self.max_frame:
                self.broken = True
                self._buf.clear()
                raise ProtocolError(E_FRAME_TOO_LARGE, f"length prefix {length} > {self.max_frame}")
            end = _HEADER.size + length
            if len(self._buf) < end:
                return
            payload = bytes(self._buf[_HEADER.size : end])
            del self._buf[:end]
            yield payload

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered (non-zero at EOF = truncated)."""
        return len(self._buf)
