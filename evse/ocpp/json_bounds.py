"""Bounded JSON for frames read from the network (OCPP-J 4.2: the frame is JSON).

`json.loads` alone lets a peer choose the recursion depth (RecursionError in the parser,
the schema validator or a later `json.dumps`), integers of any size (OverflowError where
they meet a float or SQLite), NaN / Infinity (not JSON at all) and lone UTF-16
surrogates ("\\ud800": valid JSON text, but the string cannot be encoded again, so a
reply echoing it would be unsendable). `loads_bounded` refuses all four with
`FrameRejected`, in time linear in the frame size and without recursion.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# OCPP messages nest about 8 deep; 32 leaves room for DataTransfer's free-form data.
MAX_DEPTH = 32
# int64 is more than any OCPP integer field (32 bit, Part 2 2.1.2) needs.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIR = re.compile(r"\[\]|\{\}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# [<type>, "<id>" at the start of a frame: read even when the rest cannot be parsed, so
# a rejected CALL is still answered with its own id (OCPP-J 4.2.3).
_HEAD = re.compile(r'\s*\[\s*(\d{1,2})\s*,\s*"([^"\\]{1,36})"\s*[,\]]')


class FrameRejected(ValueError):
    """Valid JSON perhaps, but outside the bounds we accept from a peer."""


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when arrays / objects nest deeper than `limit` (strings ignored)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    # Each pass removes the innermost empty pairs: a structure of depth d needs d passes.
    for _ in range(limit):
        shorter = _EMPTY_PAIR.sub("", brackets)
        if not shorter:
            return False
        if shorter == brackets:
            return False  # unbalanced: not JSON, the parser will say so
        brackets = shorter
    return True


def _int(text: str) -> int:
    if len(text) > 20:
        raise FrameRejected(f"integer of {len(text)} digits")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise FrameRejected("integer beyond 64 bits")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FrameRejected(f"number out of range: {text[:20]}")
    return value


def _constant(name: str) -> Any:
    raise FrameRejected(f"{name} is not JSON")


def _has_lone_surrogate(text: str, parsed: Any) -> bool:
    if _SURROGATE_ESCAPE.search(text) is None:
        return False  # the transport text is valid UTF-8: only escapes can make one
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def loads_bounded(text: str) -> Any:
    """Parse a frame; FrameRejected for the bounds above, ValueError for bad JSON."""
    if too_deep(text):
        raise FrameRejected(f"nested deeper than {MAX_DEPTH}")
    try:
        parsed = json.loads(
            text, parse_int=_int, parse_float=_float, parse_constant=_constant
        )
    except RecursionError as exc:  # cannot happen after too_deep; kept as a bound
        raise FrameRejected("nested too deep") from exc
    if _has_lone_surrogate(text, parsed):
        raise FrameRejected("string with a lone UTF-16 surrogate")
    return parsed


def frame_head(text: str) -> tuple[int, str] | None:
    """(message type, message id) of a frame that could not be parsed, if readable."""
    match = _HEAD.match(text)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)
