"""Fixed power factor and fixed var (OCPP 2.1 FixedPFAbsorb / FixedPFInject / FixedVar;
IEEE 1547-2018 5.3.2 and 5.3.5).

FixedPFInject applies while the unit injects active power (discharges), FixedPFAbsorb
while it absorbs (charges), as IEEE 2030.5 opModFixedPFInjectW / opModFixedPFAbsorbW.
`excitation` true means absorbing reactive power (under-excited): Q < 0 in our sign
(+ = inject). FixedVar's setpoint is percent of max var, + = inject.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FixedPFSpec:
    displacement: float  # cos(phi), 0 < pf <= 1
    excitation: bool  # True: absorb reactive power (under-excited)


@dataclass(frozen=True, slots=True)
class FixedVarSpec:
    setpoint_pct: float  # -100..100 of max var, + = inject


def pf_to_var(active_w: float, displacement: float, absorbing: bool) -> float:
    """Reactive power giving |cos(phi)| = displacement at `active_w`; + = inject."""
    pf = min(1.0, max(1e-3, abs(displacement)))
    q = abs(active_w) * math.tan(math.acos(pf))
    return -q if absorbing else q


def fixed_var(spec: FixedVarSpec, max_var: float) -> float:
    return spec.setpoint_pct / 100.0 * max_var
