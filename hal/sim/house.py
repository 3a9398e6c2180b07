"""The simulated site behind the grid connection point: a house load that steps on the
sim's own clock, plus the EVSEs' power, measured by a grid meter (`[sim.grid_meter]`).

    [sim.grid_meter]
    house_w = 3000.0              # the base load (+ consumes; negative: PV surplus)
    [[sim.grid_meter.steps]]
    at_s = 20.0
    house_w = -5000.0

Without the table the simulated site has no grid meter (as a board without one).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hal.config_reader import ConfigError, Table


@dataclass(frozen=True, slots=True)
class HouseProfile:
    base_w: float
    steps: tuple[tuple[float, float], ...] = ()  # (at_s, house_w), at_s not decreasing

    def load_w(self, t: float) -> float:
        """The house load `t` seconds after the sim started."""
        w = self.base_w
        for at_s, step_w in self.steps:
            if t < at_s:
                break
            w = step_w
        return w


def parse_house(table: Table) -> HouseProfile:
    base = table.get_float("house_w", 0.0, lo=-1e6, hi=1e6)
    steps: list[tuple[float, float]] = []
    for s in table.tables("steps"):
        steps.append((s.get_float("at_s", lo=0.0), s.get_float("house_w", lo=-1e6, hi=1e6)))
        s.reject_unknown()
    if any(b[0] < a[0] for a, b in itertools.pairwise(steps)):
        raise ConfigError(table.key("steps"), [s[0] for s in steps], "at_s must not decrease")
    table.reject_unknown()
    return HouseProfile(base, tuple(steps))
