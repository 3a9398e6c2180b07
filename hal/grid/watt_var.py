"""Watt-var and watt-PF curves (OCPP 2.1 WattVar / WattPF; IEEE 1547-2018 5.3.4,
EN 50549-1 cos phi(P)).

x = active power in percent of rated, DER sign (+ = injection, as in IEEE 1547).
WattVar: y = Q in percent of max var, + = inject. WattPF: y = power factor, and per the
OCPP DERCurvePointsType text a positive y means absorbing reactive power
(under-excited), a negative y injecting.
"""

from __future__ import annotations

from hal.grid.curves import Points, interpolate
from hal.grid.fixed_pf import pf_to_var


def watt_var_pct(points: Points, p_der_pct: float) -> float:
    return interpolate(points, p_der_pct)


def watt_pf_var(points: Points, p_der_pct: float, active_w: float) -> float:
    pf = interpolate(points, p_der_pct)
    return pf_to_var(active_w, abs(pf), absorbing=pf > 0.0)
