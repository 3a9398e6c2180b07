"""From a `SchemaSet` to EXI grammar tables (EXI 1.0 section 8.5.4, strict = false).

Each complex type becomes one deterministic automaton whose states are the normalised
EXI type grammar: attribute uses (sorted by qname) then the content model, with every
particle's occurrences unrolled (EXI 8.5.4.1.6 repeats a term max-occurs times) and
substitution groups expanded into their members sorted by qname. The automaton is built
with a Thompson NFA and subset construction; for a schema that satisfies the Unique
Particle Attribution rule this yields the same event sets per state as EXI's grammar
normalisation (8.5.4.2), and event codes are assigned in EXI order (8.5.4.3): AT by
qname, SE in schema order, SE(*), EE, CH.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from evse.iso15118.exi import tables as T
from evse.iso15118.exi.generator.xsd import (
    XS,
    AttributeDecl,
    ComplexType,
    ElementDecl,
    Particle,
    QName,
    SchemaError,
    SchemaSet,
    SimpleType,
)

_STRINGS = {
    "string",
    "normalizedString",
    "token",
    "anyURI",
    "ID",
    "IDREF",
    "NCName",
    "Name",
    "language",
    "NMTOKEN",
    "QName",
}
_INTEGERS: dict[str, tuple[int | None, int | None]] = {
    "integer": (None, None),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0),
    "negativeInteger": (None, -1),
    "long": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "unsignedLong": (0, 2**64 - 1),
    "unsignedInt": (0, 2**32 - 1),
    "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 255),
}


# XML NCName (no colon): a letter or underscore, then letters, digits, '.', '-', '_'.
_NCNAME = r"[^\W\d][\w.\-]*"


def bits_for(count: int) -> int:
    """Width of an n-bit code for `count` distinct values (EXI 7.1.9)."""
    return 0 if count <= 1 else math.ceil(math.log2(count))


@dataclass
class _Leaf:
    group: int  # event-code order: 0 AT, 1 SE(qname), 2 SE(*), (3 EE), 4 CH, 5 CH(mixed)
    order: tuple[object, ...]
    name: QName
    kind: int
    target: int
    many: bool


@dataclass
class _NFA:
    eps: list[list[int]] = field(default_factory=lambda: [[]])
    trans: list[list[tuple[int, int]]] = field(default_factory=lambda: [[]])

    def new(self) -> int:
        self.eps.append([])
        self.trans.append([])
        return len(self.eps) - 1


@dataclass
class Tables:
    namespace: str
    datatypes: list[T.Datatype] = field(default_factory=list)
    grammars: list[T.Grammar] = field(default_factory=list)
    roots: list[T.Root] = field(default_factory=list)
    # Per grammar: a named type of CommonTypes or xmldsig, whose message class is
    # generated once and shared by every namespace.
    shared: list[bool] = field(default_factory=list)


SHARED_NAMESPACES = frozenset(
    {"urn:iso:std:iso:15118:-20:CommonTypes", "http://www.w3.org/2000/09/xmldsig#"}
)


class Builder:
    """Builds the tables of one schema set (one EXI grammar set)."""

    def __init__(self, schemas: SchemaSet, namespace: str) -> None:
        self.s = schemas
        self.out = Tables(namespace)
        self._dt_index: dict[T.Datatype, int] = {}
        self._grammar_index: dict[int, int] = {}
        self._leaves: list[_Leaf] = []
        self._members: dict[QName, list[ElementDecl]] = {}
        for decl in schemas.elements.values():
            if decl.substitution_group is not None:
                self._members.setdefault(decl.substitution_group, []).append(decl)

    # --- simple types -------------------------------------------------------------

    def datatype(self, type_name: QName | None, inline: SimpleType | None) -> int:
        facets: dict[str, str] = {}
        enumeration: list[str] = []
        st = inline
        name = type_name
        while True:
            if st is None:
                assert name is not None
                if name[0] == XS:
                    builtin = name[1]
                    break
                if name not in self.s.simple_types:
                    raise SchemaError(f"unknown simple type {name}")
                st = self.s.simple_types[name]
            for k, v in st.facets.items():
                facets.setdefault(k, v)
            if not enumeration:
                enumeration = list(st.enumeration)
            if st.inline_base is not None:
                st = st.inline_base
            else:
                name, st = st.base, None
        dt = self._datatype_tuple(builtin, facets, enumeration)
        if dt not in self._dt_index:
            self._dt_index[dt] = len(self.out.datatypes)
            self.out.datatypes.append(dt)
        return self._dt_index[dt]

    @staticmethod
    def _datatype_tuple(builtin: str, facets: dict[str, str], enum: list[str]) -> T.Datatype:
        if enum:
            values = tuple(int(v) for v in enum) if builtin in _INTEGERS else tuple(enum)
            return (T.DT_ENUM, bits_for(len(values)), values)
        if builtin == "boolean":
            return (T.DT_BOOL,)
        if builtin in _INTEGERS:
            lo, hi = _INTEGERS[builtin]
            if "minInclusive" in facets:
                lo = int(facets["minInclusive"])
            if "minExclusive" in facets:
                lo = int(facets["minExclusive"]) + 1
            if "maxInclusive" in facets:
                hi = int(facets["maxInclusive"])
            if "maxExclusive" in facets:
                hi = int(facets["maxExclusive"]) - 1
            if lo is not None and hi is not None and hi - lo < 4096:  # EXI 7.1.5
                return (T.DT_NBIT, bits_for(hi - lo + 1), lo, hi)
            if lo is not None and lo >= 0:
                return (T.DT_UINT, lo, hi)
            return (T.DT_INT, lo, hi)
        lo_len = int(facets.get("length", facets.get("minLength", "0")))
        hi_s = facets.get("length", facets.get("maxLength"))
        hi_len = int(hi_s) if hi_s is not None else None
        if builtin in _STRINGS:
            pattern = facets.get("pattern")
            if pattern is None and builtin in ("ID", "IDREF", "NCName"):
                pattern = _NCNAME  # the built-in type's lexical space
            return (T.DT_STR, lo_len, hi_len, pattern)
        if builtin == "hexBinary":
            return (T.DT_HEX, lo_len, hi_len)
        if builtin == "base64Binary":
            return (T.DT_B64, lo_len, hi_len)
        raise SchemaError(f"built-in type xs:{builtin} not supported")

    # --- elements and complex types -------------------------------------------------

    def element_target(self, decl: ElementDecl) -> tuple[int, int]:
        """(SE_COMPLEX, grammar) or (SE_SIMPLE, datatype) for an element declaration."""
        if isinstance(decl.inline_type, ComplexType):
            return T.SE_COMPLEX, self.grammar(decl.inline_type, f"{decl.name[1]}Type")
        if isinstance(decl.inline_type, SimpleType):
            return T.SE_SIMPLE, self.datatype(None, decl.inline_type)
        assert decl.type_name is not None
        if decl.type_name in self.s.complex_types:
            return T.SE_COMPLEX, self.grammar(self.s.complex_types[decl.type_name])
        if decl.type_name == (XS, "anyType"):
            raise SchemaError(f"element {decl.name} of xs:anyType not supported")
        return T.SE_SIMPLE, self.datatype(decl.type_name, None)

    def _flatten(
        self, ct: ComplexType
    ) -> tuple[list[AttributeDecl], Particle | None, int | None, bool]:
        attrs = list(ct.attributes)
        particle = ct.particle
        simple: int | None = None
        mixed = ct.mixed
        if ct.simple_content is not None:
            if ct.simple_content in self.s.complex_types:
                base_attrs, _, simple, _ = self._flatten(self.s.complex_types[ct.simple_content])
                attrs = base_attrs + attrs
            else:
                simple = self.datatype(ct.simple_content, None)
        elif ct.base is not None and ct.base != (XS, "anyType"):
            base_attrs, base_particle, simple, _ = self._flatten(self.s.complex_types[ct.base])
            if ct.derivation == "extension":
                attrs = base_attrs + attrs
                if base_particle is not None and particle is not None:
                    particle = Particle("sequence", children=[base_particle, particle])
                elif particle is None:
                    particle = base_particle
            else:
                own = {a.name for a in attrs}
                attrs += [a for a in base_attrs if a.name not in own]
        return attrs, particle, simple, mixed

    def grammar(self, ct: ComplexType, anonymous_name: str = "AnonymousType") -> int:
        key = id(ct)
        if key in self._grammar_index:
            return self._grammar_index[key]
        index = len(self.out.grammars)
        self._grammar_index[key] = index
        self.out.grammars.append(("", (), False))  # placeholder: types may be recursive
        self.out.shared.append(ct.name is not None and ct.name[0] in SHARED_NAMESPACES)
        name = ct.name[1] if ct.name is not None else anonymous_name
        self.out.grammars[index] = (name, self._states(ct), ct.abstract)
        return index

    def _leaf(self, leaf: _Leaf) -> Particle:
        self._leaves.append(leaf)
        return Particle("leaf", min=len(self._leaves) - 1)  # min holds the leaf id

    def _expand(self, p: Particle, counter: list[int], outer_many: bool = False) -> Particle:
        """Replace element and any particles by leaves, in schema order."""
        counter[0] += 1
        order = counter[0]
        many = outer_many or p.max is None or p.max > 1
        if p.kind == "any":
            leaf = _Leaf(2, (order,), ("", "*"), T.SE_ANY, 0, many)
            return Particle("sequence", p.min, p.max, [self._leaf(leaf)])
        if p.kind == "element":
            decls = [p.element] if p.element is not None else self._substitutes(p.ref)
            leaves = []
            for i, decl in enumerate(decls):
                assert decl is not None
                kind, target = self.element_target(decl)
                leaves.append(self._leaf(_Leaf(1, (order, i), decl.name, kind, target, many)))
            return Particle("choice", p.min, p.max, leaves)
        children = [self._expand(c, counter, many) for c in p.children]
        return Particle(p.kind, p.min, p.max, children)

    def _substitutes(self, ref: QName | None) -> list[ElementDecl]:
        assert ref is not None
        found: dict[QName, ElementDecl] = {}
        todo = [self.s.elements[ref]]
        while todo:
            decl = todo.pop()
            if decl.name in found:
                continue
            found[decl.name] = decl
            todo.extend(self._members.get(decl.name, []))
        members = [d for d in found.values() if not d.abstract]
        return sorted(members, key=lambda d: (d.name[1], d.name[0]))

    def _build(self, nfa: _NFA, p: Particle, s: int) -> int:
        for _ in range(p.min if p.kind != "leaf" else 1):
            s = self._build_once(nfa, p, s)
        if p.kind == "leaf":
            return s
        if p.max is None:
            loop = nfa.new()
            nfa.eps[s].append(loop)
            nfa.eps[self._build_once(nfa, p, loop)].append(loop)
            return loop
        # Optional copies nest, a(a(a)?)?, with one shared exit: keeps every
        # epsilon closure small even for maxOccurs="1024".
        exit_ = nfa.new()
        for _ in range(p.max - p.min):
            nfa.eps[s].append(exit_)
            s = self._build_once(nfa, p, s)
        nfa.eps[s].append(exit_)
        return exit_

    def _build_once(self, nfa: _NFA, p: Particle, s: int) -> int:
        if p.kind == "leaf":
            t = nfa.new()
            nfa.trans[s].append((p.min, t))
            return t
        if p.kind == "sequence":
            for c in p.children:
                s = self._build(nfa, c, s)
            return s
        end = nfa.new()  # choice
        for c in p.children:
            nfa.eps[self._build(nfa, c, s)].append(end)
        if not p.children:
            nfa.eps[s].append(end)
        return end

    def _states(self, ct: ComplexType) -> tuple[T.State, ...]:
        saved = self._leaves  # a nested type's grammar is built while expanding ours
        self._leaves = []
        try:
            return self._states_of(ct)
        finally:
            self._leaves = saved

    def _states_of(self, ct: ComplexType) -> tuple[T.State, ...]:
        attrs, particle, simple, mixed = self._flatten(ct)
        nfa = _NFA()
        s = 0
        for a in sorted(attrs, key=lambda a: (a.name[1], a.name[0])):
            dt = self.datatype(a.type_name, a.inline_type)
            leaf = self._leaf(_Leaf(0, (a.name[1], a.name[0]), a.name, T.AT, dt, False))
            if not a.required:
                leaf = Particle("choice", 0, 1, [leaf])
            s = self._build(nfa, leaf, s)
        content_entry, content_start = s, len(nfa.eps)
        if simple is not None:
            s = self._build(nfa, self._leaf(_Leaf(4, (), ("", "value"), T.CH, simple, False)), s)
        elif particle is not None:
            s = self._build(nfa, self._expand(particle, [0]), s)
        final = s
        if mixed:
            text = self._leaf(_Leaf(5, (), ("", "#text"), T.CH_MIXED, 0, False)).min
            for state in [content_entry, *range(content_start, len(nfa.eps))]:
                nfa.trans[state].append((text, state))
        return self._determinise(nfa, final)

    def _closure(self, nfa: _NFA, states: set[int]) -> frozenset[int]:
        todo = list(states)
        seen = set(states)
        while todo:
            for t in nfa.eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)

    def _determinise(self, nfa: _NFA, final: int) -> tuple[T.State, ...]:
        start = self._closure(nfa, {0})
        index = {start: 0}
        order = [start]
        raw: list[list[tuple[tuple[object, ...], T.Production]]] = []
        i = 0
        while i < len(order):
            dstate = order[i]
            i += 1
            moves: dict[tuple[int, QName], tuple[tuple[object, ...], _Leaf, set[int]]] = {}
            for s in dstate:
                for leaf_id, t in nfa.trans[s]:
                    leaf = self._leaves[leaf_id]
                    key = (leaf.group, leaf.name)
                    if key in moves:
                        prev = moves[key]
                        moves[key] = (min(prev[0], leaf.order), prev[1], prev[2] | {t})
                    else:
                        moves[key] = (leaf.order, leaf, {t})
            prods: list[tuple[tuple[object, ...], T.Production]] = []
            for (group, _), (order_key, leaf, targets) in moves.items():
                nxt = self._closure(nfa, targets)
                if nxt not in index:
                    index[nxt] = len(order)
                    order.append(nxt)
                step = index[nxt] - (i - 1)  # relative: unrolled states become identical tuples
                prod = (leaf.kind, leaf.name[1], leaf.target, step, leaf.many)
                prods.append(((group, *order_key), prod))
            if final in dstate:
                prods.append(((3,), (T.EE, "", 0, 0, False)))
            raw.append(prods)
        # The attribute region (EXI: Type_i,j with j <= content) is every state reached
        # from the start by attribute events only: no content consumed yet.
        attr_region = {0}
        todo = [0]
        while todo:
            n = todo.pop()
            for _key, (kind, _name, _target, step, _many) in raw[n]:
                if kind == T.AT and n + step not in attr_region:
                    attr_region.add(n + step)
                    todo.append(n + step)
        declares_attributes = any(p[0] == T.AT for prods in raw for _, p in prods)
        states: list[T.State] = []
        for n, prods in enumerate(raw):
            prods.sort(key=lambda p: p[0])
            ordered = tuple(p for _, p in prods)
            has_ee = any(p[0] == T.EE for p in ordered)
            has_ch = any(p[0] == T.CH for p in ordered)
            # Second level (8.5.4.4.1): EE if absent; xsi:type and xsi:nil in the first
            # state; AT(*) and one AT-with-untyped-value entry (if the type declares
            # attributes) in the attribute region; SE(*) and untyped CH everywhere.
            # Checked against EXIficient on an empty SignatureValue after its Id.
            count2 = (0 if has_ee else 1) + (2 if n == 0 else 0) + 2
            if n in attr_region:
                count2 += 2 if declares_attributes else 1
            ee2 = 1 if has_ch and not has_ee else 0
            states.append((bits_for(len(ordered) + 1), ordered, bits_for(count2), ee2))
        return tuple(states)

    # --- document -------------------------------------------------------------------

    def build(self) -> Tables:
        globals_ = sorted(self.s.elements.values(), key=lambda d: (d.name[1], d.name[0]))
        for decl in globals_:
            kind, target = self.element_target(decl)
            self.out.roots.append((decl.name[1], kind, target))
        return self.out
