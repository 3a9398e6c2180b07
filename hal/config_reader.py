"""Typed reading of TOML tables with errors that name the key, the value and the reason.

Shared by hal and evse (like hal/protocol.py), so both processes report config errors
the same way. Every getter takes the dotted path of the table it reads from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

E = TypeVar("E")

_MISSING = object()


class ConfigError(Exception):
    """A configuration value is missing, of the wrong type, or out of range."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        shown = "<missing>" if value is _MISSING else repr(value)
        super().__init__(f"config key {key!r} = {shown}: {reason}")
        self.key = key
        self.value = value
        self.reason = reason


class Table:
    """A TOML table plus its dotted path; tracks which keys were read."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self._data = data
        self.path = path
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self._data

    def names(self) -> list[str]:
        return list(self._data)

    def as_dict(self) -> dict[str, Any]:
        """The raw table, for a section another module validates."""
        return dict(self._data)

    def raw(self, name: str, default: object = _MISSING) -> Any:
        self._seen.add(name)
        if name in self._data:
            return self._data[name]
        if default is _MISSING:
            raise ConfigError(self.key(name), _MISSING, "required key is missing")
        return default

    def table(self, name: str, required: bool = False) -> Table:
        value = self.raw(name, _MISSING if required else {})
        if not isinstance(value, Mapping):
            raise ConfigError(self.key(name), value, "must be a table")
        return Table(value, self.key(name))

    def tables(self, name: str) -> list[Table]:
        value = self.raw(name, [])
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise ConfigError(self.key(name), value, "must be an array of tables")
        return [Table(v, f"{self.key(name)}[{i}]") for i, v in enumerate(value)]

    def get_str(self, name: str, default: object = _MISSING) -> str:
        value = self.raw(name, default)
        if not isinstance(value, str):
            raise ConfigError(self.key(name), value, "must be a string")
        return value

    def opt_str(self, name: str) -> str | None:
        value = self.raw(name, None)
        if value is not None and not isinstance(value, str):
            raise ConfigError(self.key(name), value, "must be a string")
        return value

    def get_bool(self, name: str, default: object = _MISSING) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), value, "must be true or false")
        return value

    def get_int(
        self, name: str, default: object = _MISSING, lo: int | None = None, hi: int | None = None
    ) -> int:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.key(name), value, "must be an integer")
        _check_range(self.key(name), value, lo, hi)
        return value

    def get_float(
        self,
        name: str,
        default: object = _MISSING,
        lo: float | None = None,
        hi: float | None = None,
    ) -> float:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(self.key(name), value, "must be a number")
        if not math.isfinite(value):
            raise ConfigError(self.key(name), value, "must be finite")
        _check_range(self.key(name), value, lo, hi)
        return float(value)

    def opt_float(
        self, name: str, lo: float | None = None, hi: float | None = None
    ) -> float | None:
        if self.raw(name, None) is None:
            return None
        return self.get_float(name, lo=lo, hi=hi)

    def choice(self, name: str, options: Iterable[str], default: object = _MISSING) -> str:
        allowed = list(options)
        value = self.get_str(name, default)
        if value not in allowed:
            raise ConfigError(self.key(name), value, f"must be one of {', '.join(allowed)}")
        return value

    def floats(self, name: str, default: object = _MISSING) -> list[float]:
        value = self.raw(name, default)
        if not isinstance(value, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        ):
            raise ConfigError(self.key(name), value, "must be an array of finite numbers")
        return [float(v) for v in value]

    def reject_unknown(self) -> None:
        """Call after reading a table: an unread key is a typo, and typos are errors."""
        for name in self._data:
            if name not in self._seen:
                raise ConfigError(self.key(name), self._data[name], "unknown key")


def _check_range(key: str, value: float, lo: float | None, hi: float | None) -> None:
    if lo is not None and value < lo:
        raise ConfigError(key, value, f"must be >= {lo}")
    if hi is not None and value > hi:
        raise ConfigError(key, value, f"must be <= {hi}")
