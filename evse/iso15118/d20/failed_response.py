"""A schema-valid response carrying only a negative ResponseCode, for any -20 `*Res`.

The dispatcher answers a request it will not handle (sequence error, unknown session,
no handler) with the matching response and a FAILED_* code (-20: the SECC answers
with the response of the request received). The standard still wants every
mandatory element present, so the fields the schema requires get neutral placeholder
values (zero, empty, the first enumeration value); the car must ignore them after a
FAILED code.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import typing
from typing import Any, Literal

from evse.iso15118.exi import Codec, ExiError
from evse.iso15118.exi._generated.shared_types import MessageHeaderType

_MAX_DEPTH = 8  # generated types nest a few levels; a cycle would be a generator bug


def response_name(request_name: str) -> str:
    """`XxxReq` -> `XxxRes` (every -20 request has its response of the same stem)."""
    if not request_name.endswith("Req"):
        raise ValueError(f"{request_name} is not a request")
    return request_name[:-3] + "Res"


def failed_response(codec: Codec, name: str, code: str, header: MessageHeaderType) -> Any:
    """An instance of the generated class of `name` with `code` and placeholders.

    A schema choice (e.g. Dynamic_ or Scheduled_ control mode) is not visible in the
    generated class (its options are optional fields), so the encoder is asked and the
    first option it names is filled in, until the message encodes.
    """
    cls = codec.types.ELEMENTS[name]
    msg = _fill(cls, 0, {"Header": header, "ResponseCode": code})
    for _ in range(_MAX_DEPTH):
        try:
            codec.encode_message(name, msg)
            return msg
        except ExiError as exc:
            if (found := _CHOICE.search(str(exc))) is not None:
                options = [o.strip().strip("'") for o in found.group(1).split(",")]
                _fill_choice(_walk(msg, found.group(2)), options)
            elif (found := _LENGTH.search(str(exc))) is not None:
                parent, _, field = found.group(2).rpartition("/")
                setattr(_walk(msg, parent), field, b"\x00" * int(found.group(1)))
            else:
                raise
    raise ExiError(f"no placeholder {name} encodes", path=name)


_CHOICE = re.compile(r"expected one of \[([^\]]*)\] at (\S+)")
_LENGTH = re.compile(r"outside the schema's \[(\d+), \d+\] at (\S+)")
_STEP = re.compile(r"^(\w+)(?:\[(\d+)\])?$")


def _walk(msg: Any, path: str) -> Any:
    obj = msg
    for step in path.split("/")[1:]:  # the first step is the global element itself
        m = _STEP.match(step)
        if m is None:
            raise ValueError(f"cannot follow {path}")
        obj = getattr(obj, m.group(1))
        if m.group(2) is not None:
            obj = obj[int(m.group(2))]
    return obj


def _fill_choice(obj: Any, options: list[str]) -> None:
    hints = typing.get_type_hints(type(obj), vars(sys.modules[type(obj).__module__]))
    for option in options:
        if option in hints and getattr(obj, option) is None:
            setattr(obj, option, _placeholder(hints[option], 1))
            return
    raise ValueError(f"none of {options} can be filled in {type(obj).__name__}")


def _fill(cls: type[Any], depth: int, given: dict[str, Any] | None = None) -> Any:
    if depth > _MAX_DEPTH:
        raise ValueError(f"{cls.__name__} nests deeper than {_MAX_DEPTH}")
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if given and f.name in given:
            kwargs[f.name] = given[f.name]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs[f.name] = _placeholder(hints[f.name], depth)
    return cls(**kwargs)


def _placeholder(tp: Any, depth: int) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return typing.get_args(tp)[0]
    if origin is list:
        return [_placeholder(typing.get_args(tp)[0], depth + 1)]
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _placeholder(args[0], depth)
    if tp is bool:
        return False
    if tp is int:
        return 0
    if tp is float:
        return 0.0
    if tp is str:
        return "Z"  # also a valid xs:ID / NCName
    if tp is bytes:
        return b"\x00"
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _fill(tp, depth + 1)
    raise TypeError(f"no placeholder for {tp!r}")
