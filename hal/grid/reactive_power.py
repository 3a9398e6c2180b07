"""Which reactive-power function is in force, and its var request.

IEEE 1547-2018 5.3 and EN 50549-1 4.7.2 run one reactive mode at a time. When several
are configured (a preset volt-var plus an OCPP FixedPF directive, say) the most
explicit wins: FixedVar, then FixedPF (Inject while discharging, Absorb while
charging), then WattPF, WattVar, VoltVar. Volt-var is updated every sample even when
another mode wins, so its filter and autonomous vRef stay continuous.
"""

from __future__ import annotations

from collections.abc import Mapping

from hal.grid.controls import Spec, WattPFSpec, WattVarSpec
from hal.grid.fixed_pf import FixedPFSpec, FixedVarSpec, fixed_var, pf_to_var
from hal.grid.watt_var import watt_pf_var, watt_var_pct


def reactive_var(
    controls: Mapping[str, Spec],
    setpoint_w: float,
    p_der_pct: float,
    volt_var_pct: float | None,
    max_var: float,
) -> tuple[str | None, float]:
    """(control type in force, Q in var, + = inject), clamped to +-max_var."""
    mode: str | None = None
    q = 0.0
    fv = controls.get("FixedVar")
    pf_type = "FixedPFInject" if setpoint_w < 0.0 else "FixedPFAbsorb"
    pf = controls.get(pf_type)
    wpf = controls.get("WattPF")
    wv = controls.get("WattVar")
    if isinstance(fv, FixedVarSpec):
        mode, q = "FixedVar", fixed_var(fv, max_var)
    elif isinstance(pf, FixedPFSpec) and setpoint_w != 0.0:
        mode, q = pf_type, pf_to_var(setpoint_w, pf.displacement, pf.excitation)
    elif isinstance(wpf, WattPFSpec):
        mode, q = "WattPF", watt_pf_var(wpf.points, p_der_pct, setpoint_w)
    elif isinstance(wv, WattVarSpec):
        mode, q = "WattVar", watt_var_pct(wv.points, p_der_pct) / 100.0 * max_var
    elif volt_var_pct is not None:
        mode, q = "VoltVar", volt_var_pct / 100.0 * max_var
    return mode, min(max(q, -max_var), max_var)
