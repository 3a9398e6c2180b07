"""EXI 1.0 schema-informed, bit-packed decoder driven by the generated tables.

Every read is bounds-checked against the stream, every declared length is checked
against the bits that remain before anything is allocated, and every malformed stream
ends in `ExiError` carrying the bit offset and the grammar state.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from evse.iso15118.exi import tables as T
from evse.iso15118.exi.errors import ExiError

_MAX_UINT_OCTETS = 24  # 168 bits: above any xs:unsignedLong and any X509 serial number
# Largest stream accepted. -20 messages, certificate chains included, stay far below.
# Reads shift one big int whose read part is trimmed as decoding advances (see
# _Stream.trim_at), so the cost stays about linear; the bound caps it.
MAX_STREAM_BYTES = 65536
_TRIM_BITS = 8192


class _Stream:
    """Bits of one EXI stream, MSB first, held as one Python int for cheap shifts."""

    __slots__ = ("end", "global_values", "local_values", "pos", "trim_at", "value")

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.end = len(data) * 8
        self.pos = 0
        # A shift costs the size of what is left above the read: in long streams, drop
        # the bits already read now and then, so decoding stays about linear.
        self.trim_at = _TRIM_BITS if self.end > 2 * _TRIM_BITS else self.end + 1
        # EXI string table value partitions (7.3.3), per stream: every literal string
        # value is added, so that streams from encoders that emit hits also decode.
        self.global_values: list[str] = []
        self.local_values: dict[str, list[str]] = {}

    def bits(self, n: int) -> int:
        pos = self.pos + n
        if pos > self.end:
            raise ExiError(f"stream ends inside a {n}-bit field", bit_offset=self.pos)
        self.pos = pos
        return (self.value >> (self.end - pos)) & ((1 << n) - 1)

    def uint(self) -> int:
        """EXI unsigned integer (7.1.6): little-endian 7-bit groups, high bit = more."""
        result = 0
        shift = 0
        value = self.value
        end = self.end
        pos = self.pos
        while True:
            pos += 8
            if pos > end:
                raise ExiError("stream ends inside an unsigned integer", bit_offset=self.pos)
            octet = (value >> (end - pos)) & 0xFF
            result |= (octet & 0x7F) << shift
            if octet < 0x80:
                self.pos = pos
                return result
            shift += 7
            if shift >= 7 * _MAX_UINT_OCTETS:
                raise ExiError("unsigned integer too long", bit_offset=self.pos)

    def octets(self, n: int) -> bytes:
        if n * 8 > self.end - self.pos:
            raise ExiError(
                f"declared length {n} exceeds the {self.end - self.pos} bits left",
                bit_offset=self.pos,
            )
        pos = self.pos + n * 8
        chunk = (self.value >> (self.end - pos)) & ((1 << (n * 8)) - 1)
        self.pos = pos
        return chunk.to_bytes(n, "big")


class Decoder:
    """Decodes EXI bytes of one namespace into the JSON form (dicts, lists, scalars)."""

    def __init__(
        self,
        grammars: tuple[T.Grammar, ...],
        datatypes: tuple[T.Datatype, ...],
        roots: tuple[T.Root, ...],
        max_bytes: int = MAX_STREAM_BYTES,
    ) -> None:
        self.grammars = grammars
        # Patterns compiled once: a decoded value must be one the encoder accepts.
        self.datatypes = tuple(
            (*dt[:3], re.compile(dt[3])) if dt[0] == T.DT_STR and dt[3] is not None else dt
            for dt in datatypes
        )
        self.roots = roots
        self.max_bytes = max_bytes
        self.root_bits = max(1, (len(roots)).bit_length())
        # Width of fixed-size values (n-bit integers, booleans, enumerations), -1 else:
        # a simple element of such a type is read as one CH + value + EE field.
        self.fixed = tuple(
            dt[1] if dt[0] in (T.DT_NBIT, T.DT_ENUM) else 1 if dt[0] == T.DT_BOOL else -1
            for dt in datatypes
        )
        self.linear = tuple(T.linear_plan(g) for g in grammars)

    def decode(self, data: bytes) -> dict[str, Any]:
        if not data or data[0] != 0x80:
            raise ExiError("EXI header must be the single byte 0x80", bit_offset=0, state="header")
        if len(data) > self.max_bytes:
            raise ExiError(
                f"stream of {len(data)} bytes exceeds the {self.max_bytes}-byte limit",
                bit_offset=0,
                state="header",
            )
        s = _Stream(data)
        s.pos = 8
        try:
            code = s.bits(self.root_bits)
        except ExiError as e:
            e.state = "document"
            raise
        if code >= len(self.roots):
            raise ExiError(
                "SE(*) or unknown global element",
                bit_offset=s.pos - self.root_bits,
                state="document",
            )
        name, kind, target = self.roots[code]
        if kind == T.SE_COMPLEX:
            value: Any = self._complex(s, target)
        else:
            value = self._simple_element(s, target, name)
        if s.end - s.pos >= 8:
            raise ExiError(
                f"{(s.end - s.pos) // 8} trailing bytes after the document",
                bit_offset=s.pos,
                state="document end",
            )
        return {name: value}

    def _linear(self, s: _Stream, plan: tuple[tuple[str, int], ...]) -> dict[str, Any] | None:
        """Fast path for a fixed sequence of simple elements: each is event code 0 (1 bit),
        CH 0, value, EE 0. None (nothing consumed) on anything else."""
        start = s.pos
        data, end = s.value, s.end
        out: dict[str, Any] = {}
        for pname, dti in plan:
            dt = self.datatypes[dti]
            if dt[0] == T.DT_NBIT:
                width = dt[1] + 3
                pos = s.pos + width
                if pos > end:
                    break
                field = (data >> (end - pos)) & ((1 << width) - 1)
                raw = field >> 1
                if field & 1 or raw >> (width - 3) or raw + dt[2] > dt[3]:
                    break
                out[pname] = raw + dt[2]
                s.pos = pos
            else:
                if s.pos >= end or (data >> (end - s.pos - 1)) & 1:
                    break
                s.pos += 1
                is_integer = dt[0] == T.DT_INT or dt[0] == T.DT_UINT
                value = self._integer_element(s, dt) if is_integer else None
                if value is None:
                    break
                out[pname] = value
        else:
            if s.pos < end and not (data >> (end - s.pos - 1)) & 1:  # EE
                s.pos += 1
                return out
        s.pos = start
        return None

    def _complex(self, s: _Stream, gi: int) -> dict[str, Any]:
        if s.pos > s.trim_at:
            s.value &= (1 << (s.end - s.pos)) - 1  # the unread bits stay where they were
            s.trim_at = s.pos + _TRIM_BITS
        plan = self.linear[gi]
        if plan is not None:
            fast = self._linear(s, plan)
            if fast is not None:
                return fast
        name, states, abstract = self.grammars[gi]
        if abstract:
            raise ExiError(f"element of abstract type {name} (needs xsi:type)", bit_offset=s.pos)
        out: dict[str, Any] = {}
        n = 0
        data, end, fixed, datatypes = s.value, s.end, self.fixed, self.datatypes
        try:
            while True:
                nbits, prods, bits2, ee2 = states[n]
                pos = s.pos + nbits
                if pos > end:
                    raise ExiError("stream ends inside an event code", bit_offset=s.pos)
                s.pos = pos
                code = (data >> (end - pos)) & ((1 << nbits) - 1)
                if code >= len(prods):
                    if code > len(prods):
                        raise ExiError(
                            f"event code {code} not in grammar", bit_offset=s.pos - nbits
                        )
                    code2 = s.bits(bits2)
                    if ee2 and code2 == 0 and self._may_be_empty(prods):
                        out["value"] = ""  # EE instead of CH: empty simple content
                        return out
                    raise ExiError(
                        f"second-level event {code2} not supported", bit_offset=s.pos - bits2
                    )
                kind, pname, target, step, many = prods[code]
                if kind == T.SE_COMPLEX:
                    value: Any = self._complex(s, target)
                    data = s.value  # the child may have trimmed the stream
                elif kind == T.SE_SIMPLE:
                    width = fixed[target]
                    value = None
                    if width >= 0 and s.pos + width + 2 <= end:
                        # Fast path: CH (0), the value, EE (0) as one field.
                        pos = s.pos + width + 2
                        field = (data >> (end - pos)) & ((1 << (width + 2)) - 1)
                        if not field & 1 and not field >> (width + 1):
                            raw = field >> 1
                            dt = datatypes[target]
                            if dt[0] == T.DT_NBIT:
                                if raw + dt[2] <= dt[3]:
                                    value = raw + dt[2]
                            elif dt[0] == T.DT_BOOL:
                                value = raw == 1
                            elif raw < len(dt[2]):
                                value = dt[2][raw]
                            if value is not None:
                                s.pos = pos
                    if value is None:  # general path, and every error
                        value = self._simple_element(s, target, pname)
                elif kind == T.EE:
                    return out
                elif kind == T.AT or kind == T.CH:
                    value = self._value(s, self.datatypes[target], pname)
                else:
                    raise ExiError(
                        f"{T.KIND_NAMES[kind]} content has no JSON form", bit_offset=s.pos
                    )
                if many:
                    if pname in out:
                        out[pname].append(value)
                    else:
                        out[pname] = [value]
                else:
                    out[pname] = value
                n += step
        except ExiError as e:
            if e.state is None:
                e.state = f"{name} state {n}"
            raise

    def _may_be_empty(self, prods: tuple[T.Production, ...]) -> bool:
        for kind, _name, target, _next, _many in prods:
            if kind == T.CH:
                dt = self.datatypes[target]
                return dt[0] in (T.DT_STR, T.DT_HEX, T.DT_B64) and dt[1] == 0
        return False

    def _simple_element(self, s: _Stream, dti: int, name: str) -> Any:
        dt = self.datatypes[dti]
        if dt[0] == T.DT_INT or dt[0] == T.DT_UINT:
            number = self._integer_element(s, dt)
            if number is not None:
                return number
        if s.bits(1):
            # Escape: second level of a simple type's first state (EE, xsi:type,
            # xsi:nil, AT(*), SE(*), CH: 3 bits). EE there is the empty-content form.
            code2 = s.bits(3)
            if code2 == 0 and dt[0] in (T.DT_STR, T.DT_HEX, T.DT_B64) and dt[1] == 0:
                return ""
            raise ExiError(
                f"second-level event {code2} not supported",
                bit_offset=s.pos - 3,
                state=f"{name} (simple content)",
            )
        value = self._value(s, dt, name)
        if s.bits(1):
            raise ExiError("expected EE", bit_offset=s.pos - 1, state=f"{name} (after content)")
        return value

    @staticmethod
    def _string_hit(s: _Stream, kind: int, name: str, start: int) -> str:
        """A string table hit: 0 = local (this element or attribute), 1 = global.
        Local partitions are keyed by local name; in these schemas the only string-typed
        local name in two namespaces is the Id attribute (xmldsig's and -20's), which
        then share one partition. Our encoder writes literals only, like both codecs
        behind the golden vectors."""
        table = s.local_values.get(name, []) if kind == 0 else s.global_values
        if not table:
            raise ExiError("string table reference into an empty table", bit_offset=start)
        width = (len(table) - 1).bit_length()
        index = s.bits(width) if width else 0
        if index >= len(table):
            raise ExiError(f"string table index {index} out of range", bit_offset=start)
        return table[index]

    @staticmethod
    def _integer_element(s: _Stream, dt: T.Datatype) -> int | None:
        """CH, integer, EE read inline; None (nothing consumed) on anything unusual,
        so the general path reports it."""
        data, end = s.value, s.end
        head = 2 if dt[0] == T.DT_INT else 1  # CH bit, and the sign bit of xs:int & co
        pos = s.pos + head
        if pos > end:
            return None
        bits = (data >> (end - pos)) & ((1 << head) - 1)
        if bits >> (head - 1):
            return None  # escape to the second level
        result = 0
        shift = 0
        while True:
            pos += 8
            if pos > end or shift > 70:
                return None
            octet = (data >> (end - pos)) & 0xFF
            result |= (octet & 0x7F) << shift
            if octet < 0x80:
                break
            shift += 7
        if head == 2 and bits & 1:
            result = -result - 1
        lo, hi = dt[1], dt[2]
        if pos >= end or (data >> (end - pos - 1)) & 1:
            return None  # no room for EE, or not EE
        if (lo is not None and result < lo) or (hi is not None and result > hi):
            return None
        s.pos = pos + 1
        return result

    def _value(self, s: _Stream, dt: T.Datatype, name: str = "") -> Any:
        kind = dt[0]
        if kind == T.DT_NBIT:
            value: int = s.bits(dt[1]) + dt[2]
            if value > dt[3]:
                raise ExiError(f"value {value} above maximum {dt[3]}", bit_offset=s.pos - dt[1])
            return value
        if kind == T.DT_BOOL:
            return s.bits(1) == 1
        if kind == T.DT_ENUM:
            index = s.bits(dt[1])
            if index >= len(dt[2]):
                raise ExiError(f"enumeration index {index} out of range", bit_offset=s.pos - dt[1])
            return dt[2][index]
        if kind == T.DT_UINT or kind == T.DT_INT:
            start = s.pos
            negative = kind == T.DT_INT and s.bits(1) == 1
            value = -s.uint() - 1 if negative else s.uint()
            lo, hi = dt[1], dt[2]
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise ExiError(f"integer {value} outside [{lo}, {hi}]", bit_offset=start)
            return value
        if kind == T.DT_STR:
            start = s.pos
            length = s.uint()
            if length < 2:
                text = self._string_hit(s, length, name, start)
                if dt[3] is not None and not dt[3].fullmatch(text):
                    raise ExiError(f"{text!r} does not match the schema pattern", bit_offset=start)
                if len(text) < dt[1] or (dt[2] is not None and len(text) > dt[2]):
                    raise ExiError(
                        f"string length {len(text)} outside the schema", bit_offset=start
                    )
                return text
            length -= 2
            if length * 8 > s.end - s.pos:
                raise ExiError(
                    f"declared string length {length} exceeds the stream", bit_offset=start
                )
            if length < dt[1] or (dt[2] is not None and length > dt[2]):
                raise ExiError(
                    f"string length {length} outside the schema's [{dt[1]}, {dt[2]}]",
                    bit_offset=start,
                )
            chars = []
            for _ in range(length):
                code = s.uint()
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise ExiError(f"invalid code point {code}", bit_offset=s.pos)
                chars.append(chr(code))
            text = "".join(chars)
            if dt[3] is not None and not dt[3].fullmatch(text):
                raise ExiError(f"{text!r} does not match the schema pattern", bit_offset=start)
            if text:
                s.global_values.append(text)
                s.local_values.setdefault(name, []).append(text)
            return text
        if kind == T.DT_HEX or kind == T.DT_B64:
            start = s.pos
            raw = s.octets(s.uint())
            if len(raw) < dt[1] or (dt[2] is not None and len(raw) > dt[2]):
                raise ExiError(
                    f"{len(raw)} bytes outside the schema's [{dt[1]}, {dt[2]}]", bit_offset=start
                )
            return raw.hex().upper() if kind == T.DT_HEX else base64.b64encode(raw).decode()
        raise ExiError(f"datatype {kind} not supported", bit_offset=s.pos)
