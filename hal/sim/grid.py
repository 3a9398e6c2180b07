"""A scriptable grid: voltage and frequency per phase as a function of time.

A profile is a list of events on the sim's own clock (seconds since start): a `step`
sets values at once, a `ramp` moves them linearly over `duration_s`. Gaussian noise
(seeded, so runs repeat) is added on top of the scripted values.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from hal.config_reader import ConfigError, Table
from hal.devices.base import GridSample


@dataclass(frozen=True, slots=True)
class GridEvent:
    at_s: float
    kind: str  # "step" | "ramp"
    duration_s: float
    voltage_v: tuple[float, ...] | None  # per phase; one value applies to all phases
    frequency_hz: float | None


@dataclass(frozen=True, slots=True)
class GridProfile:
    nominal_voltage_v: float
    nominal_frequency_hz: float
    phases: int
    events: tuple[GridEvent, ...]
    voltage_noise_v: float = 0.0
    frequency_noise_hz: float = 0.0
    seed: int = 1


def parse_grid_profile(
    table: Table, nominal_voltage_v: float, nominal_frequency_hz: float, phases: int
) -> GridProfile:
    events: list[GridEvent] = []
    for ev in table.tables("events"):
        kind = ev.choice("kind", ("step", "ramp"))
        at = ev.get_float("at_s", lo=0.0)
        duration = ev.get_float("duration_s", 0.0, lo=0.0) if kind == "ramp" else 0.0
        if kind == "ramp" and duration <= 0.0:
            raise ConfigError(ev.key("duration_s"), duration, "a ramp needs duration_s > 0")
        volts: tuple[float, ...] | None = None
        if ev.has("voltage_v"):
            raw = ev.raw("voltage_v")
            vals = ev.floats("voltage_v") if isinstance(raw, list) else [ev.get_float("voltage_v")]
            if len(vals) not in (1, phases) or any(v < 0 for v in vals):
                raise ConfigError(ev.key("voltage_v"), raw, f"one or {phases} values >= 0")
            volts = tuple(vals * phases if len(vals) == 1 else vals)
        freq = ev.opt_float("frequency_hz", lo=1.0, hi=100.0)
        if volts is None and freq is None:
            raise ConfigError(ev.path, None, "an event needs voltage_v or frequency_hz")
        ev.reject_unknown()
        events.append(GridEvent(at, kind, duration, volts, freq))
    if any(b.at_s < a.at_s for a, b in itertools.pairwise(events)):
        raise ConfigError(table.key("events"), [e.at_s for e in events], "at_s must not decrease")
    profile = GridProfile(
        nominal_voltage_v=nominal_voltage_v,
        nominal_frequency_hz=nominal_frequency_hz,
        phases=phases,
        events=tuple(events),
        voltage_noise_v=table.get_float("voltage_noise_v", 0.0, lo=0.0, hi=50.0),
        frequency_noise_hz=table.get_float("frequency_noise_hz", 0.0, lo=0.0, hi=1.0),
        seed=table.get_int("seed", 1),
    )
    table.reject_unknown()
    return profile


class SimGrid:
    """Evaluates a profile; `set_override()` lets tests and benches script live changes."""

    def __init__(self, profile: GridProfile, start: float) -> None:
        self._p = profile
        self._start = start
        self._rng = random.Random(profile.seed)
        self._override_v: tuple[float, ...] | None = None
        self._override_f: float | None = None
        # Events given at run time (the control socket), each with its absolute start
        # (monotonic); applied after the scripted ones, in order.
        self.live: list[tuple[float, GridEvent]] = []

    def add_live(self, start: float, event: GridEvent) -> bool:
        """A run-time event from `start` on; False when that same event is already there
        (an orchestrator re-sending the world's state)."""
        if (start, event) in self.live:
            return False
        self.live.append((start, event))
        self.live.sort(key=lambda x: x[0])
        return True

    def set_override(self, voltage_v: tuple[float, ...] | None, frequency_hz: float | None) -> None:
        self._override_v = voltage_v
        self._override_f = frequency_hz

    def scripted(self, now: float) -> tuple[tuple[float, ...], float]:
        t = now - self._start
        v = (self._p.nominal_voltage_v,) * self._p.phases
        f = self._p.nominal_frequency_hz
        for ev in self._p.events:
            if t < ev.at_s:
                break
            frac = 1.0 if ev.kind == "step" else min(1.0, (t - ev.at_s) / ev.duration_s)
            if ev.voltage_v is not None:
                v = tuple(a + (b - a) * frac for a, b in zip(v, ev.voltage_v, strict=True))
            if ev.frequency_hz is not None:
                f = f + (ev.frequency_hz - f) * frac
        for start, ev in self.live:
            if now < start:
                break
            frac = 1.0 if ev.kind == "step" else min(1.0, (now - start) / ev.duration_s)
            if ev.voltage_v is not None:
                v = tuple(a + (b - a) * frac for a, b in zip(v, ev.voltage_v, strict=True))
            if ev.frequency_hz is not None:
                f = f + (ev.frequency_hz - f) * frac
        if self._override_v is not None:
            v = self._override_v
        if self._override_f is not None:
            f = self._override_f
        return v, f

    def sample(self, now: float) -> GridSample:
        v, f = self.scripted(now)
        if self._p.voltage_noise_v > 0.0:
            v = tuple(max(0.0, x + self._rng.gauss(0.0, self._p.voltage_noise_v)) for x in v)
        if self._p.frequency_noise_hz > 0.0:
            f = f + self._rng.gauss(0.0, self._p.frequency_noise_hz)
        return GridSample(now, v, f)
