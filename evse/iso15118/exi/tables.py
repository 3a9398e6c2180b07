"""Shape of the generated EXI grammar tables (EXI 1.0, schema-informed, non-strict).

The generator (`evse.iso15118.exi.generator`) writes one module per namespace under
`_generated/`; the codec reads them. Plain tuples and ints, because the codec's inner
loop indexes them millions of times and tuple indexing is the cheapest access Python has.

A grammar is the normalised EXI type grammar of one complex type: a tuple of states.
A state is `(bits, productions, bits2, ee2)`:
- `bits`: width of the first-level event code, ceil(log2(len(productions) + 1)); the +1
  is the escape to the second level that non-strict grammars always have.
- `productions`: in event-code order, each `(kind, name, target, step, many)`; the next
  state is this state's index + step (relative, so the states of an unrolled
  maxOccurs are one shared tuple).
- `bits2`: width of the second-level event code in this state.
- `ee2`: 1 when this state offers typed character content (CH) and EE is only reachable
  at the second level (code 0): the form some encoders use for an empty string.
"""

from __future__ import annotations

from typing import Any

# Production kinds.
EE = 0  # end element
SE_COMPLEX = 1  # child element with a complex type; target = grammar index
SE_SIMPLE = 2  # child element with a simple type; target = datatype index
AT = 3  # attribute; target = datatype index
CH = 4  # typed character content of a simpleContent type; target = datatype index
SE_ANY = 5  # wildcard element (xs:any): has no JSON form, so the codec rejects it
CH_MIXED = 6  # untyped text in mixed content: has no JSON form, rejected

# Datatype kinds: (kind, ...parameters)
DT_BOOL = 0  # (DT_BOOL,)
DT_NBIT = 1  # (DT_NBIT, bits, min, max): bounded integer, offset from min
DT_UINT = 2  # (DT_UINT, min, max|None): unsigned integer, 7-bit groups
DT_INT = 3  # (DT_INT, min|None, max|None): sign bit + unsigned magnitude
DT_ENUM = 4  # (DT_ENUM, bits, values, {value: index})
DT_STR = 5  # (DT_STR, min_len, max_len|None, pattern|None)
DT_HEX = 6  # (DT_HEX, min_len, max_len|None): hexBinary, JSON upper-case hex
DT_B64 = 7  # (DT_B64, min_len, max_len|None): base64Binary, JSON standard base64

Production = tuple[int, str, int, int, bool]
State = tuple[int, tuple[Production, ...], int, int]
Grammar = tuple[str, tuple[State, ...], bool]  # (type name, states, abstract)
Datatype = tuple[Any, ...]
Root = tuple[str, int, int]  # (element name, SE_COMPLEX|SE_SIMPLE, target)

KIND_NAMES = ("EE", "SE", "SE", "AT", "CH", "SE(*)", "CH(mixed)")


def linear_plan(grammar: Grammar) -> tuple[tuple[str, int], ...] | None:
    """For a grammar that is a fixed sequence of required simple elements (like
    RationalNumberType: Exponent, Value), the (name, datatype) of each in order, else
    None. Such a type has exactly one encoding shape: each state a 1-bit code 0."""
    _name, states, abstract = grammar
    if abstract or not states:
        return None
    plan: list[tuple[str, int]] = []
    for n, (nbits, prods, _bits2, _ee2) in enumerate(states):
        if nbits != 1 or len(prods) != 1:
            return None
        kind, name, target, step, many = prods[0]
        if n == len(states) - 1:
            return tuple(plan) if kind == EE else None
        if kind != SE_SIMPLE or step != 1 or many:
            return None
        plan.append((name, target))
    return None
