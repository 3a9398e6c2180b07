"""Helpers for the grid-function tests: engines from presets, samples, a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hal.config_reader import Table
from hal.devices.base import GridSample, PowerStageRating
from hal.grid.engine import GridDecision, GridEngine
from hal.grid.settings import GridSettings, parse_grid_settings

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"
RATING = PowerStageRating(max_charge_w=11000.0, max_discharge_w=10000.0, max_var=5000.0, phases=3)
IMMEDIATE = {"enter_service": {"delay_s": 0.0, "ramp_s": 0.0}}


def settings(preset: str | None, overrides: Mapping[str, Any] | None = None) -> GridSettings:
    table: dict[str, Any] = dict(overrides or {})
    if preset is not None:
        table["preset"] = preset
    return parse_grid_settings(Table(table, "grid"), CONFIG_DIR)


def engine(
    preset: str | None,
    overrides: Mapping[str, Any] | None = None,
    rating: PowerStageRating = RATING,
) -> GridEngine:
    import random

    return GridEngine(rating, settings(preset, overrides), random.Random(7))


def sample(t: float, v_pct: float | tuple[float, ...], f: float, nominal_v: float) -> GridSample:
    vs = v_pct if isinstance(v_pct, tuple) else (v_pct,) * 3
    return GridSample(t, tuple(v / 100.0 * nominal_v for v in vs), f)


def run(
    eng: GridEngine,
    t0: float,
    t1: float,
    dt: float,
    grid: Callable[[float], tuple[float | tuple[float, ...], float]],
    requested_w: float = 0.0,
    nominal_v: float = 230.0,
    measured: Callable[[GridDecision | None], float] | None = None,
) -> list[tuple[float, GridDecision]]:
    """Step the engine on a fake clock at t0, t0+dt, ... < t1 (times by index, no drift)."""
    out: list[tuple[float, GridDecision]] = []
    n = round((t1 - t0) / dt)
    last: GridDecision | None = None
    for k in range(n):
        t = t0 + k * dt
        v, f = grid(t)
        m = measured(last) if measured else (last.setpoint_w if last else 0.0)
        last = eng.step(t, sample(t, v, f, nominal_v), requested_w, m)
        out.append((t, last))
    return out
