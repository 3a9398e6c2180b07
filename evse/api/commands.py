"""Commands in, pure: a topic's command name and payload bytes -> a typed command, or a
`CommandError` with a code and a reason for the reply. Nothing here changes anything;
`acceptance.py` decides whether the station may follow it.

Every payload is a JSON object of known fields only; `id` (optional, a string of at most
64 characters) is the correlation id echoed in the reply. Setpoints and limits carry an
expiry, `expires_in_s` (seconds from receipt) or `expires_at` (RFC 3339 with an offset):
without a fresh command before it, the energy manager falls back as if the EMS had gone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Error codes of a reply (docs/mqtt-api.md).
MALFORMED = "malformed"  # not JSON, not an object, nested too deep
TOO_LARGE = "too_large"
UNKNOWN_COMMAND = "unknown_command"
UNKNOWN_FIELD = "unknown_field"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
OUT_OF_RANGE = "out_of_range"
EXPIRED = "expired"
RETAINED = "retained"  # a retained command would replay at every (re)connect
UNKNOWN_EVSE = "unknown_evse"
NOT_ALLOWED = "not_allowed"  # the operation mode in force (Q05/Q06) or free vend says no


class CommandError(Exception):
    def __init__(self, code: str, reason: str, corr_id: str | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.corr_id = corr_id


@dataclass(frozen=True, slots=True)
class Setpoint:
    """Q05 ExternalSetpoint: W, + charges, - discharges."""

    w: float
    expires_in_s: float


@dataclass(frozen=True, slots=True)
class Limits:
    """Q06 ExternalLimits: magnitudes in W; the allowed range is [-discharge, charge]."""

    max_charge_w: float
    max_discharge_w: float
    expires_in_s: float


@dataclass(frozen=True, slots=True)
class Clear:
    """The EMS withdraws its input at once (as if it had expired)."""


@dataclass(frozen=True, slots=True)
class Enable:
    enabled: bool


@dataclass(frozen=True, slots=True)
class Charge:
    """Free vend: start (allow power) or stop."""

    start: bool


Command = Setpoint | Limits | Clear | Enable | Charge


@dataclass(frozen=True, slots=True)
class Parsed:
    corr_id: str | None
    command: Command


@dataclass(frozen=True, slots=True)
class Bounds:
    """What the parser checks values against."""

    max_payload_bytes: int
    max_expiry_s: float
    max_charge_w: float  # the EVSE's rating
    max_discharge_w: float


_FIELDS: dict[str, tuple[str, ...]] = {
    "setpoint": ("w",),
    "limits": ("max_charge_w", "max_discharge_w"),
    "clear": (),
    "enable": ("enabled",),
    "charge": ("allowed",),
}
_EXPIRING = ("setpoint", "limits")


def _object(payload: bytes, limit: int) -> dict[str, Any]:
    if len(payload) > limit:
        raise CommandError(TOO_LARGE, f"{len(payload)} bytes, at most {limit}")
    try:
        doc = json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CommandError(MALFORMED, f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CommandError(MALFORMED, "not a JSON object")
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _corr_id(doc: dict[str, Any]) -> str | None:
    raw = doc.get("id")
    if raw is None:
        return None
    if not isinstance(raw, str) or not 1 <= len(raw) <= 64:
        raise CommandError(WRONG_TYPE, "id must be a string of 1-64 characters")
    return raw


def _number(doc: dict[str, Any], key: str, lo: float, hi: float, cid: str | None) -> float:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise CommandError(WRONG_TYPE, f"{key} must be a number", cid)
    f = float(v)
    if not math.isfinite(f) or not lo <= f <= hi:
        raise CommandError(OUT_OF_RANGE, f"{key} = {v}: must be within [{lo:g}, {hi:g}]", cid)
    return f


def _expiry(doc: dict[str, Any], b: Bounds, now_wall: datetime, cid: str | None) -> float:
    has_in, has_at = "expires_in_s" in doc, "expires_at" in doc
    if has_in == has_at:
        raise CommandError(MISSING_FIELD, "exactly one of expires_in_s, expires_at", cid)
    if has_in:
        v = doc["expires_in_s"]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise CommandError(WRONG_TYPE, "expires_in_s must be a number", cid)
        if not math.isfinite(v) or v <= 0:
            raise CommandError(EXPIRED, f"expires_in_s = {v}: already expired", cid)
        if v > b.max_expiry_s:
            raise CommandError(OUT_OF_RANGE, f"expires_in_s at most {b.max_expiry_s:g}", cid)
        return float(v)
    raw = doc["expires_at"]
    if not isinstance(raw, str) or len(raw) > 40:
        raise CommandError(WRONG_TYPE, "expires_at must be an RFC 3339 string", cid)
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(WRONG_TYPE, f"expires_at {raw!r} is not RFC 3339", cid) from None
    if at.tzinfo is None:
        raise CommandError(WRONG_TYPE, "expires_at needs a UTC offset", cid)
    left = (at - now_wall).total_seconds()
    if left <= 0:
        raise CommandError(EXPIRED, f"expires_at {raw} has passed", cid)
    if left > b.max_expiry_s:
        raise CommandError(OUT_OF_RANGE, f"expires_at more than {b.max_expiry_s:g} s ahead", cid)
    return left


def parse(name: str, payload: bytes, b: Bounds, now_wall: datetime) -> Parsed:
    """`now_wall` (aware UTC) only to read `expires_at`; expiry itself runs on monotonic
    time from receipt (ems_inputs.py)."""
    if name not in _FIELDS:
        raise CommandError(UNKNOWN_COMMAND, f"{name!r} (known: {', '.join(_FIELDS)})")
    doc = _object(payload, b.max_payload_bytes)
    cid = _corr_id(doc)
    known = {"id", *_FIELDS[name], *(("expires_in_s", "expires_at") if name in _EXPIRING else ())}
    extra = sorted(set(doc) - known)
    if extra:
        raise CommandError(UNKNOWN_FIELD, f"{', '.join(extra)} (known: {sorted(known)})", cid)
    for key in _FIELDS[name]:
        if key not in doc:
            raise CommandError(MISSING_FIELD, f"{key} is required", cid)
    cmd: Command
    if name == "setpoint":
        w = _number(doc, "w", -b.max_discharge_w, b.max_charge_w, cid)
        cmd = Setpoint(w, _expiry(doc, b, now_wall, cid))
    elif name == "limits":
        ch = _number(doc, "max_charge_w", 0.0, b.max_charge_w, cid)
        dis = _number(doc, "max_discharge_w", 0.0, b.max_discharge_w, cid)
        cmd = Limits(ch, dis, _expiry(doc, b, now_wall, cid))
    elif name == "clear":
        cmd = Clear()
    elif name == "enable":
        if not isinstance(doc["enabled"], bool):
            raise CommandError(WRONG_TYPE, "enabled must be true or false", cid)
        cmd = Enable(doc["enabled"])
    else:
        if not isinstance(doc["allowed"], bool):
            raise CommandError(WRONG_TYPE, "allowed must be true (start) or false (stop)", cid)
        cmd = Charge(doc["allowed"])
    return Parsed(cid, cmd)


def reply(corr_id: str | None, command: str, ok: bool, code: str = "", reason: str = "",
          extra: dict[str, Any] | None = None) -> bytes:
    doc: dict[str, Any] = {"id": corr_id, "command": command, "ok": ok}
    if not ok:
        doc["error"] = code
        doc["reason"] = reason
    doc.update(extra or {})
    return json.dumps(doc, separators=(",", ":")).encode()
