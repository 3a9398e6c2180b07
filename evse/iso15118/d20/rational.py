"""-20 RationalNumberType (Value x 10^Exponent, Value int16, Exponent int8) <-> float."""

from __future__ import annotations

from evse.iso15118.exi._generated.shared_types import RationalNumberType

_VALUE_MAX = 32767


def to_float(r: RationalNumberType) -> float:
    return float(r.Value) * 10.0 ** r.Exponent


def from_float(x: float) -> RationalNumberType:
    """The representation with the most precision that fits Value in int16."""
    if x == 0:
        return RationalNumberType(Exponent=0, Value=0)
    exponent = -3
    while abs(round(x / 10.0**exponent)) > _VALUE_MAX:
        exponent += 1
        if exponent > 127:
            raise ValueError(f"{x} does not fit a RationalNumber")
    value = round(x / 10.0**exponent)
    while value != 0 and value % 10 == 0 and exponent < 3:  # shortest exact form
        value //= 10
        exponent += 1
    return RationalNumberType(Exponent=exponent, Value=value)
