"""The ranges a grid code allows for its adjustable settings, and the check of a station's
values against them.

A preset's `[ranges]` table (preset files only: the station config cannot widen them)
maps a dotted settings key to what the code allows:

    "freq_droop.over_droop" = [0.02, 0.12]                  # a scalar: [lo, hi]
    "trip.hv_must_trip" = [{threshold = [100.0, 120.0], time = [0.1, 100.0]}, ...]

For a trip curve every configured stage ([clearing_time_s, threshold]) must lie inside
one of the listed stage ranges (codes number their stages differently, and a station may
configure fewer stages than the code offers). Values are checked after the preset and the
station's overrides are merged, so an override outside the code's range is refused at
start with the key, the value and the range named (exit 2 before any hardware is touched).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hal.config_reader import ConfigError


@dataclass(frozen=True, slots=True)
class StageRange:
    threshold: tuple[float, float]
    time_s: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Ranges:
    scalars: Mapping[str, tuple[float, float]]
    stages: Mapping[str, tuple[StageRange, ...]]

    def describe(self, key: str) -> str | None:
        """The allowed range of `key` in words, for reports."""
        if key in self.scalars:
            lo, hi = self.scalars[key]
            return f"{lo:g} .. {hi:g}"
        if key in self.stages:
            return "; ".join(
                f"{s.threshold[0]:g}..{s.threshold[1]:g} within {s.time_s[0]:g}..{s.time_s[1]:g} s"
                for s in self.stages[key]
            )
        return None


EMPTY = Ranges({}, {})


def _pair(key: str, raw: object) -> tuple[float, float]:
    if (
        isinstance(raw, list)
        and len(raw) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
        and raw[0] <= raw[1]
    ):
        return float(raw[0]), float(raw[1])
    raise ConfigError(key, raw, "a range is [lo, hi] with lo <= hi")


def parse_ranges(path: str, raw: object) -> Ranges:
    """The `[ranges]` table of a preset; errors name `path.<key>`."""
    if raw is None:
        return EMPTY
    if not isinstance(raw, Mapping):
        raise ConfigError(path, raw, "must be a table of ranges")
    scalars: dict[str, tuple[float, float]] = {}
    stages: dict[str, tuple[StageRange, ...]] = {}
    for key, value in raw.items():
        full = f"{path}.{key}"
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            stages[key] = tuple(
                StageRange(_pair(full, v.get("threshold")), _pair(full, v.get("time")))
                for v in value
            )
        else:
            scalars[key] = _pair(full, value)
    return Ranges(scalars, stages)


def _lookup(data: Mapping[str, Any], dotted: str) -> object:
    cur: Any = data
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _enabled(data: Mapping[str, Any], dotted: str) -> bool:
    section = _lookup(data, dotted.split(".")[0])
    return not (isinstance(section, Mapping) and section.get("enabled", True) is False)


def check_ranges(data: Mapping[str, Any], ranges: Ranges, path: str, code: str) -> None:
    """Raise ConfigError for the first value outside the code's range."""
    for key, (lo, hi) in ranges.scalars.items():
        value = _lookup(data, key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if _enabled(data, key) and not lo <= value <= hi:
            raise ConfigError(
                f"{path}.{key}", value, f"{code} allows {lo:g} .. {hi:g} for this setting"
            )
    for key, allowed in ranges.stages.items():
        curve = _lookup(data, key)
        if not isinstance(curve, list):
            continue
        for point in curve:
            if not (isinstance(point, list) and len(point) == 2):
                continue  # the curve parser names malformed points
            t, thr = float(point[0]), float(point[1])
            if not any(
                r.threshold[0] <= thr <= r.threshold[1] and r.time_s[0] <= t <= r.time_s[1]
                for r in allowed
            ):
                raise ConfigError(
                    f"{path}.{key}",
                    point,
                    f"{code} allows stages of {ranges.describe(key)}",
                )
