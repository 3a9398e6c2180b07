"""Hypothesis strategies for documents, built from the generated grammar tables.

A document is a walk through the grammar: in each state draw one production; after a
budget of steps, or with some probability, take the shortest way to EE so every walk
ends. Values are drawn inside each datatype's facets.
"""

from __future__ import annotations

import base64
import functools
import importlib
from types import ModuleType
from typing import Any

from hypothesis import strategies as st

from evse.iso15118.exi import tables as T

_SKIP = (T.SE_ANY, T.CH_MIXED)  # no JSON form


def _to_ee(states: tuple[T.State, ...], ok: set[int]) -> list[int | None]:
    """Per state, the index of the production on a shortest path to EE (None: none),
    using only complex children whose grammar index is in `ok` (can be generated)."""
    dist: list[float] = [float("inf")] * len(states)
    best: list[int | None] = [None] * len(states)
    changed = True
    while changed:
        changed = False
        for n, (_b, prods, _b2, _e) in enumerate(states):
            for i, (kind, _name, _t, step, _many) in enumerate(prods):
                if kind in _SKIP or (kind == T.SE_COMPLEX and _t not in ok):
                    continue
                d = 0.0 if kind == T.EE else dist[n + step] + 1
                if d < dist[n]:
                    dist[n], best[n] = d, i
                    changed = True
    return best


class _Gen:
    def __init__(self, module: ModuleType) -> None:
        self.grammars: tuple[T.Grammar, ...] = module.GRAMMARS
        self.datatypes: tuple[T.Datatype, ...] = module.DATATYPES
        self.ok: set[int] = set()
        while True:
            self.exits = [_to_ee(states, self.ok) for _name, states, _abs in self.grammars]
            ok = {
                g
                for g, exits in enumerate(self.exits)
                if exits[0] is not None and not self.grammars[g][2]
            }
            if ok == self.ok:
                break
            self.ok = ok

    def value(self, draw: st.DrawFn, dt: T.Datatype) -> Any:
        kind = dt[0]
        if kind == T.DT_BOOL:
            return draw(st.booleans())
        if kind == T.DT_NBIT:
            return draw(st.integers(dt[2], dt[3]))
        if kind in (T.DT_UINT, T.DT_INT):
            lo = dt[1] if dt[1] is not None else -(2**70)
            hi = dt[2] if dt[2] is not None else 2**70
            return draw(st.integers(lo, hi))
        if kind == T.DT_ENUM:
            return draw(st.sampled_from(dt[2]))
        hi = min(dt[2] if dt[2] is not None else 24, max(dt[1], 24))
        if kind == T.DT_STR:
            if dt[3] is not None:  # xs:ID and the like: an NCName
                return draw(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,15}", fullmatch=True))
            # Characters XML 1.0 allows (documents are XML infosets; the Java peer
            # goes through XML), without whitespace, which some types collapse.
            chars = st.characters(
                min_codepoint=0x21,
                max_codepoint=0xFFFD,
                blacklist_categories=("Cs", "Zs", "Zl", "Zp"),
            )
            return draw(st.text(chars, min_size=dt[1], max_size=hi))
        raw = draw(st.binary(min_size=dt[1], max_size=hi))
        return raw.hex().upper() if kind == T.DT_HEX else base64.b64encode(raw).decode()

    def complex(self, draw: st.DrawFn, gi: int, depth: int) -> dict[str, Any]:
        states = self.grammars[gi][1]
        exits = self.exits[gi]
        out: dict[str, Any] = {}
        n = 0
        for step in range(64):
            prods = states[n][1]
            usable = [
                i
                for i, p in enumerate(prods)
                if p[0] not in _SKIP
                and (p[0] != T.SE_COMPLEX or p[2] in self.ok)
                and (p[0] == T.EE or exits[n + p[3]] is not None)
            ]
            if step > 12 or depth > 6 or draw(st.integers(0, 3)) == 0:
                choice = exits[n]
                assert choice is not None
            else:
                choice = draw(st.sampled_from(usable))
            kind, name, target, step, many = prods[choice]
            if kind == T.EE:
                return out
            if kind == T.SE_COMPLEX:
                value: Any = self.complex(draw, target, depth + 1)
            else:
                value = self.value(draw, self.datatypes[target])
            if many:
                out.setdefault(name, []).append(value)
            else:
                out[name] = value
            n += step
        raise AssertionError("walk did not end")


@functools.cache
def _generator(short: str) -> tuple[_Gen, ModuleType]:
    """Built once per namespace: the fixed point over all grammars is not cheap."""
    module = importlib.import_module(f"evse.iso15118.exi._generated.{short}")
    return _Gen(module), module


@st.composite
def documents(draw: st.DrawFn, short: str, messages_only: bool = False) -> dict[str, Any]:
    """A document of namespace `short`; with messages_only, only *Req / *Res roots."""
    gen, module = _generator(short)
    roots = [r for r in module.ROOTS if r[1] == T.SE_SIMPLE or r[2] in gen.ok]
    if messages_only:
        roots = [r for r in roots if r[0].endswith(("Req", "Res"))]
    name, kind, target = draw(st.sampled_from(roots))
    if kind == T.SE_COMPLEX:
        return {name: gen.complex(draw, target, 0)}
    return {name: gen.value(draw, module.DATATYPES[target])}
