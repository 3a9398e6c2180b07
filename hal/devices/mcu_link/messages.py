"""The messages of the MCU link and their fields (docs/mcu-protocol.md is the reference).

On the wire a message is the CBOR array `[kind, seq, body]`; `body` is a map with short
text keys. `parse_message` checks kind, types and ranges, so everything past it can trust
the fields; unknown keys are ignored (newer firmware may add fields).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 1

# hal -> MCU
HELLO = 0x01
KEEPALIVE = 0x02
SET_PWM = 0x03
ALLOW_POWER = 0x04
SET_LOCK = 0x05
TRIP_SETTINGS = 0x06
RCD_COMMAND = 0x07
GET_STATUS = 0x08
# MCU -> hal
HELLO_REPLY = 0x81
STATUS = 0x82
ACK = 0x83

NAMES = {
    HELLO: "hello",
    KEEPALIVE: "keepalive",
    SET_PWM: "set_pwm",
    ALLOW_POWER: "allow_power",
    SET_LOCK: "set_lock",
    TRIP_SETTINGS: "trip_settings",
    RCD_COMMAND: "rcd_command",
    GET_STATUS: "get_status",
    HELLO_REPLY: "hello_reply",
    STATUS: "status",
    ACK: "ack",
}

CP_STATES = ("A", "B", "C", "D", "E", "F")
ERROR_FLAGS = (
    "diode_fault",
    "overcurrent",
    "welded_contactor",
    "rcd_selftest_failed",
    "overvoltage",
    "undervoltage",
    "overfrequency",
    "underfrequency",
    "overtemp",
)

_UINT = "uint"
_BOOL = "bool"
_NUM = "num"
_STR = "str"
_UINTS = "uints"
_STRS = "strs"
_OPT_NUM = "num?"

# field -> (type, required); ranges are checked in _check_ranges.
SCHEMA: dict[int, dict[str, tuple[str, bool]]] = {
    HELLO: {"proto": (_UINT, True), "ka_ms": (_UINT, True), "st_ms": (_UINT, True)},
    KEEPALIVE: {},
    SET_PWM: {"duty": (_UINT, True)},
    ALLOW_POWER: {"on": (_BOOL, True), "why": (_STR, True)},
    SET_LOCK: {"lock": (_BOOL, True)},
    TRIP_SETTINGS: {
        "oc_a": (_NUM, True),
        "v_min": (_NUM, True),
        "v_max": (_NUM, True),
        "f_min": (_NUM, True),
        "f_max": (_NUM, True),
        "t_ms": (_UINT, True),
    },
    RCD_COMMAND: {"cmd": (_STR, True)},
    GET_STATUS: {},
    HELLO_REPLY: {"proto": (_UINT, True), "fw": (_STR, True), "phases": (_UINT, True)},
    STATUS: {
        "cp": (_STR, True),
        "duty": (_UINT, True),
        "pp": (_OPT_NUM, True),
        "ct": (_BOOL, True),
        "lock": (_BOOL, True),
        "rcd": (_BOOL, True),
        "err": (_STRS, True),
        "v": (_UINTS, True),
        "f": (_UINT, True),
        "up": (_UINT, True),
        "re": (_UINT, False),
    },
    ACK: {"re": (_UINT, True), "ok": (_BOOL, True), "why": (_STR, False)},
}


class MessageError(ValueError):
    """A well-framed payload that is not a valid message."""


@dataclass(frozen=True, slots=True)
class Message:
    kind: int
    seq: int
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return NAMES.get(self.kind, f"kind {self.kind:#04x}")


def _type_ok(value: object, t: str) -> bool:
    if t == _UINT:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32
    if t == _BOOL:
        return isinstance(value, bool)
    if t == _NUM:  # finite: a NaN threshold or ampacity is never meant
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if t == _OPT_NUM:
        return value is None or _type_ok(value, _NUM)
    if t == _STR:
        return isinstance(value, str) and len(value) <= 64
    if t == _UINTS:
        return (
            isinstance(value, list) and len(value) <= 3 and all(_type_ok(v, _UINT) for v in value)
        )
    if t == _STRS:
        return (
            isinstance(value, list) and len(value) <= 16 and all(_type_ok(v, _STR) for v in value)
        )
    raise AssertionError(t)


def parse_message(obj: object) -> Message:
    if not (isinstance(obj, list) and len(obj) == 3):
        raise MessageError("not a [kind, seq, body] array")
    kind, seq, body = obj
    if not isinstance(kind, int) or kind not in SCHEMA:
        raise MessageError(f"unknown kind {kind!r}")
    if not _type_ok(seq, _UINT) or seq > 0xFFFF:
        raise MessageError(f"bad seq {seq!r}")
    if not isinstance(body, dict):
        raise MessageError("body is not a map")
    for key, (t, required) in SCHEMA[kind].items():
        if key not in body:
            if required:
                raise MessageError(f"{NAMES[kind]}: missing {key!r}")
            continue
        if not _type_ok(body[key], t):
            raise MessageError(f"{NAMES[kind]}: bad {key!r} = {body[key]!r}")
    _check_ranges(kind, body)
    return Message(kind, seq, body)


def _check_ranges(kind: int, body: dict[str, Any]) -> None:
    if kind in (SET_PWM, STATUS) and body["duty"] > 10000:
        raise MessageError(f"duty {body['duty']} > 10000")
    if kind == STATUS and body["cp"] not in CP_STATES:
        raise MessageError(f"cp state {body['cp']!r}")
    if kind == RCD_COMMAND and body["cmd"] not in ("selftest", "reset"):
        raise MessageError(f"rcd cmd {body['cmd']!r}")
