"""The grid controls in force, as the settings a power stage enforces on its own
(`PowerStage.push_protection`): trips, enter service, droop, curves, fixed PF, limits.

hal protects in its own loop; a power stage that can protect by itself (a SunSpec
inverter) gets the same settings, so the grid stays protected when hal is gone. Pure:
controls in, a plain dict out (the schema is in hal/devices/sunspec/der.py). Controls a
stage cannot hold (power-monitoring trips, mean over-voltage, watt-var, ...) stay with hal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hal.grid.controls import LimitMaxDischargeSpec, Spec, TripControl
from hal.grid.enter_service import EnterServiceSpec
from hal.grid.fixed_pf import FixedPFSpec
from hal.grid.freq_droop import FreqDroopSpec
from hal.grid.volt_var import VoltVarSpec
from hal.grid.volt_watt import WattCurveSpec

# OCPP control type -> (settings key, curve in that key)
TRIPS = {
    "LVMustTrip": ("trip_lv", "must_trip"),
    "LVMayTrip": ("trip_lv", "may_trip"),
    "LVMomCess": ("trip_lv", "mom_cess"),
    "HVMustTrip": ("trip_hv", "must_trip"),
    "HVMayTrip": ("trip_hv", "may_trip"),
    "HVMomCess": ("trip_hv", "mom_cess"),
    "LFMustTrip": ("trip_lf", "must_trip"),
    "HFMustTrip": ("trip_hf", "must_trip"),
    "HFMayTrip": ("trip_hf", "may_trip"),
}


def protection_settings(controls: Mapping[str, Spec], nominal_hz: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ctype, spec in sorted(controls.items()):
        if isinstance(spec, TripControl) and ctype in TRIPS:
            key, curve = TRIPS[ctype]
            # Stages (clearing time, threshold) -> curve points (threshold, time).
            out.setdefault(key, {})[curve] = [
                [s.threshold, s.clearing_s] for s in spec.curve.stages
            ]
        elif isinstance(spec, EnterServiceSpec):
            out["enter_service"] = {
                "enabled": True,
                "v_hi_pct": spec.high_voltage_pct,
                "v_lo_pct": spec.low_voltage_pct,
                "hz_hi": spec.high_freq_hz,
                "hz_lo": spec.low_freq_hz,
                "delay_s": spec.delay_s,
                "random_s": spec.random_delay_s,
                "ramp_s": spec.ramp_s,
            }
        elif isinstance(spec, FreqDroopSpec):
            out["freq_droop"] = {
                "db_of_hz": max(0.0, spec.over_freq_hz - nominal_hz),
                "db_uf_hz": max(0.0, nominal_hz - spec.under_freq_hz),
                "k_of": spec.over_droop,
                "k_uf": spec.under_droop,
                "resp_s": spec.response_time_s,
                "p_min_pct": 0,
            }
        elif isinstance(spec, VoltVarSpec):
            out["volt_var"] = {
                "points": [list(p) for p in spec.points],
                "resp_s": spec.response_time_s,
            }
        elif isinstance(spec, WattCurveSpec) and ctype == "VoltWatt":
            out["volt_watt"] = {
                "points": [list(p) for p in spec.points],
                "resp_s": spec.response_time_s,
            }
        elif isinstance(spec, FixedPFSpec) and ctype == "FixedPFInject":
            out["fixed_pf"] = {
                "pf": spec.displacement,
                "excitation": "under" if spec.excitation else "over",
            }
        elif isinstance(spec, LimitMaxDischargeSpec) and spec.pct is not None:
            out["w_max_lim_pct"] = {"pct": spec.pct}
    return out
