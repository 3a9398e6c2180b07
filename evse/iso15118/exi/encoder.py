"""EXI 1.0 schema-informed, bit-packed encoder driven by the generated tables.

The encoder walks the grammar and takes, in each state, the first production (in
event-code order) whose element the document still holds; so a document whose keys
are out of schema order still encodes in schema order. It checks the schema's facets
on every value and names the path of the first violation.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from evse.iso15118.exi import tables as T
from evse.iso15118.exi.errors import ExiError

_MISSING = object()


class _Writer:
    """Bits MSB first, accumulated in one int; whole bytes move out to `out` once the
    int grows past `_FLUSH` bits, so large documents stay linear."""

    __slots__ = ("acc", "n", "out")

    def __init__(self) -> None:
        self.acc = 0
        self.n = 0
        self.out = bytearray()

    def bits(self, n: int, value: int) -> None:
        self.acc = (self.acc << n) | value
        self.n += n
        if self.n > _FLUSH:
            self.flush()

    def uint(self, value: int) -> None:
        if value < 0x80:
            self.acc = (self.acc << 8) | value
            self.n += 8
            return
        acc = self.acc
        n = self.n
        while value >= 0x80:
            acc = (acc << 8) | 0x80 | (value & 0x7F)
            value >>= 7
            n += 8
        self.acc = (acc << 8) | value
        self.n = n + 8

    def flush(self) -> None:
        keep = self.n % 8
        self.out += (self.acc >> keep).to_bytes(self.n // 8, "big")
        self.acc &= (1 << keep) - 1
        self.n = keep

    def to_bytes(self) -> bytes:
        pad = -self.n % 8
        return bytes(self.out) + (self.acc << pad).to_bytes((self.n + pad) // 8, "big")


_FLUSH = 4096


def _fail(reason: str, path: str) -> ExiError:
    return ExiError(reason, path=path)


class Encoder:
    """Encodes the JSON form of one namespace into EXI bytes."""

    def __init__(
        self,
        grammars: tuple[T.Grammar, ...],
        datatypes: tuple[T.Datatype, ...],
        roots: tuple[T.Root, ...],
    ) -> None:
        self.grammars = grammars
        # Enumerations get a value -> index map; patterns get compiled.
        prepared: list[T.Datatype] = []
        for dt in datatypes:
            if dt[0] == T.DT_ENUM:
                prepared.append((*dt, {v: i for i, v in enumerate(dt[2])}))
            elif dt[0] == T.DT_STR and dt[3] is not None:
                prepared.append((*dt[:3], re.compile(dt[3])))
            else:
                prepared.append(dt)
        self.datatypes = tuple(prepared)
        self.roots = {name: (code, kind, target) for code, (name, kind, target) in enumerate(roots)}
        self.linear = tuple(T.linear_plan(g) for g in grammars)
        self.root_bits = max(1, len(roots).bit_length())

    def encode(self, doc: dict[str, Any]) -> bytes:
        if not isinstance(doc, dict) or len(doc) != 1:
            raise _fail("a document is an object with exactly one key, the message name", "/")
        ((name, value),) = doc.items()
        if name not in self.roots:
            raise _fail(f"{name!r} is not a global element of this namespace", name)
        code, kind, target = self.roots[name]
        w = _Writer()
        w.bits(8, 0x80)
        w.bits(self.root_bits, code)
        if kind == T.SE_COMPLEX:
            self._complex(w, target, value, name)
        else:
            self._simple_element(w, target, value, name)
        return w.to_bytes()

    def _linear(self, w: _Writer, plan: tuple[tuple[str, int], ...], d: dict[str, Any]) -> bool:
        """Fast path for a fixed sequence of n-bit or integer simple elements (each:
        code 0, CH 0, value, EE 0; then EE 0). False, with nothing written, if the
        document does not fit it: the general path then encodes or reports it."""
        if len(d) != len(plan):
            return False
        acc, n = w.acc, w.n
        for pname, dti in plan:
            value = d.get(pname)
            dt = self.datatypes[dti]
            if type(value) is not int:
                break
            if dt[0] == T.DT_NBIT and dt[2] <= value <= dt[3]:
                acc = (acc << (dt[1] + 3)) | ((value - dt[2]) << 1)
                n += dt[1] + 3
            elif (
                dt[0] == T.DT_INT
                and (dt[1] is None or value >= dt[1])
                and (dt[2] is None or value <= dt[2])
            ):
                negative = value < 0
                magnitude = -value - 1 if negative else value
                acc = (acc << 3) | negative  # code 0, CH 0, sign
                n += 3
                while magnitude >= 0x80:
                    acc = (acc << 8) | 0x80 | (magnitude & 0x7F)
                    magnitude >>= 7
                    n += 8
                acc = (acc << 9) | (magnitude << 1)  # last octet, EE 0
                n += 9
            else:
                break
        else:
            w.acc = acc << 1  # EE
            w.n = n + 1
            return True
        return False

    def _complex(self, w: _Writer, gi: int, d: Any, path: str) -> None:
        if not isinstance(d, dict):
            raise _fail(f"expected an object, got {type(d).__name__}", path)
        plan = self.linear[gi]
        if plan is not None and self._linear(w, plan, d):
            return
        name, states, abstract = self.grammars[gi]
        if abstract:
            raise _fail(f"{name} is abstract: use a member of its substitution group", path)
        datatypes = self.datatypes
        n = 0
        done: list[str] = []
        index: dict[str, int] = {}
        while True:
            nbits, prods, _bits2, _ee2 = states[n]
            for code, (kind, pname, target, step, many) in enumerate(prods):
                if kind == T.EE:
                    if len(done) != len(d):
                        raise _fail(self._extra_reason(d, done, index), path)
                    w.bits(nbits, code)
                    return
                value = d.get(pname, _MISSING)
                if value is _MISSING:
                    continue
                sub = pname
                if many:
                    if not isinstance(value, list):
                        raise _fail("expected a list (this element may repeat)", f"{path}/{sub}")
                    i = index.get(pname, 0)
                    if i >= len(value):
                        continue
                    index[pname] = i + 1
                    if i + 1 == len(value):
                        done.append(pname)
                    sub = f"{pname}[{i}]"
                    value = value[i]
                else:
                    done.append(pname)
                if kind == T.SE_SIMPLE:
                    dt = datatypes[target]
                    if dt[0] == T.DT_NBIT and type(value) is int and dt[2] <= value <= dt[3]:
                        # Fast path: event code, CH (0), value, EE (0) as one field.
                        width = nbits + dt[1] + 2
                        w.acc = (w.acc << width) | ((((code << 1) << dt[1]) | (value - dt[2])) << 1)
                        w.n += width
                    elif dt[0] == T.DT_BOOL and type(value) is bool:
                        w.acc = (w.acc << (nbits + 3)) | (code << 3) | (2 if value else 0)
                        w.n += nbits + 3
                    else:
                        w.bits(nbits, code)
                        self._simple_element(w, target, value, f"{path}/{sub}")
                elif kind == T.SE_COMPLEX:
                    w.bits(nbits, code)
                    self._complex(w, target, value, f"{path}/{sub}")
                elif kind == T.AT or kind == T.CH:
                    w.bits(nbits, code)
                    self._value(w, datatypes[target], value, f"{path}/{sub}")
                else:
                    raise _fail(f"{T.KIND_NAMES[kind]} content cannot be encoded", f"{path}/{sub}")
                n += step
                break
            else:
                expected = [p[1] for p in prods if p[0] != T.EE]
                missing = [k for k in expected if k not in d or k in done]
                raise _fail(f"missing required element, expected one of {missing}", path)

    @staticmethod
    def _extra_reason(d: dict[str, Any], done: list[str], index: dict[str, int]) -> str:
        extra = next(k for k in d if k not in done)
        if extra in index:
            return f"too many {extra!r} items: the schema allows {index[extra]}"
        return f"unexpected or out-of-place element {extra!r}"

    def _simple_element(self, w: _Writer, dti: int, value: Any, path: str) -> None:
        dt = self.datatypes[dti]
        if dt[0] == T.DT_INT and type(value) is int:
            lo, hi = dt[1], dt[2]
            if (lo is None or value >= lo) and (hi is None or value <= hi):
                # CH (0) and the sign bit as one field, the magnitude, EE (0).
                if value < 0:
                    w.bits(2, 1)
                    w.uint(-value - 1)
                else:
                    w.bits(2, 0)
                    w.uint(value)
                w.bits(1, 0)
                return
        w.bits(1, 0)  # CH, first level (also for an empty string)
        self._value(w, dt, value, path)
        w.bits(1, 0)  # EE

    def _value(self, w: _Writer, dt: T.Datatype, v: Any, path: str) -> None:
        kind = dt[0]
        if kind == T.DT_NBIT or kind == T.DT_UINT or kind == T.DT_INT:
            if type(v) is not int:
                raise _fail(f"expected an integer, got {v!r}", path)
            lo, hi = (dt[2], dt[3]) if kind == T.DT_NBIT else (dt[1], dt[2])
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise _fail(f"{v} outside the schema range [{lo}, {hi}]", path)
            if kind == T.DT_NBIT:
                w.bits(dt[1], v - lo)
            elif kind == T.DT_UINT:
                w.uint(v)
            elif v < 0:
                w.bits(1, 1)
                w.uint(-v - 1)
            else:
                w.bits(1, 0)
                w.uint(v)
        elif kind == T.DT_BOOL:
            if type(v) is not bool:
                raise _fail(f"expected true or false, got {v!r}", path)
            w.bits(1, 1 if v else 0)
        elif kind == T.DT_ENUM:
            index = dt[3].get(v) if isinstance(v, str | int) else None
            if index is None:
                raise _fail(f"{v!r} is not one of {list(dt[2])}", path)
            w.bits(dt[1], index)
        elif kind == T.DT_STR:
            if not isinstance(v, str):
                raise _fail(f"expected a string, got {v!r}", path)
            self._check_length(len(v), dt, path)
            if dt[3] is not None and not dt[3].fullmatch(v):
                raise _fail(f"{v!r} does not match the schema pattern", path)
            w.uint(len(v) + 2)
            for ch in v:
                w.uint(ord(ch))
        elif kind == T.DT_HEX or kind == T.DT_B64:
            raw = self._binary(kind, v, path)
            self._check_length(len(raw), dt, path)
            w.uint(len(raw))
            if raw:
                w.bits(len(raw) * 8, int.from_bytes(raw, "big"))
        else:
            raise _fail(f"datatype {kind} not supported", path)

    @staticmethod
    def _binary(kind: int, v: Any, path: str) -> bytes:
        if not isinstance(v, str):
            raise _fail(f"expected a {'hex' if kind == T.DT_HEX else 'base64'} string", path)
        try:
            if kind == T.DT_HEX:
                return bytes.fromhex(v)
            return base64.b64decode(v, validate=True)
        except (ValueError, binascii.Error) as e:
            raise _fail(f"invalid {'hex' if kind == T.DT_HEX else 'base64'}: {e}", path) from e

    @staticmethod
    def _check_length(n: int, dt: T.Datatype, path: str) -> None:
        if n < dt[1] or (dt[2] is not None and n > dt[2]):
            raise _fail(f"length {n} outside the schema's [{dt[1]}, {dt[2]}]", path)
