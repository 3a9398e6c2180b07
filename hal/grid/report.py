"""A commissioning report of grid settings: what a grid operator's integrator checks
against the connection agreement, in their units (volts, hertz, seconds, per unit).

`report_lines()` is plain text; `plot()` draws the same settings (matplotlib, imported
only when a plot is asked for). Pure functions of GridSettings and the unit's rating.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hal.devices.base import PowerStageRating
from hal.grid.controls import (
    GradientSpec,
    LimitMaxDischargeSpec,
    TripControl,
    WattPFSpec,
    WattVarSpec,
)
from hal.grid.enter_service import EnterServiceSpec
from hal.grid.fixed_pf import FixedPFSpec, FixedVarSpec
from hal.grid.freq_droop import DroopReference, FreqDroopSpec, droop_delta_w
from hal.grid.must_trip import Direction
from hal.grid.settings import TRIP_KEYS, GridSettings
from hal.grid.volt_var import VoltVarSpec
from hal.grid.volt_watt import WattCurveSpec

_TRIP_ORDER = [*TRIP_KEYS.values(), "LFMayTrip", "PowerMonitoringMustTrip"]
_SETTING_KEY = {ct: f"trip.{k}" for k, ct in TRIP_KEYS.items()}


def _is_voltage(control_type: str) -> bool:
    return control_type[1] == "V"


def droop_rating_w(rating: PowerStageRating) -> float:
    """The P_rated the engine scales droop by (hal/grid/engine.py, _droop_rating)."""
    return rating.max_discharge_w if rating.max_discharge_w > 0 else rating.max_charge_w


def report_lines(s: GridSettings, rating: PowerStageRating) -> list[str]:
    nv, nf = s.nominal_voltage_v, s.nominal_frequency_hz
    out = [
        f"Grid settings: preset {s.preset or '(none)'}",
        f"  source: {s.source or '-'}",
        f"  nominal {nv:g} V line-to-neutral, {nf:g} Hz; unit rated {rating.max_charge_w:g} W "
        f"charge / {rating.max_discharge_w:g} W discharge / {rating.max_var:g} var",
    ]
    if s.confirm_locally:
        out.append(f"  confirm locally: {', '.join(s.confirm_locally)}")
    if s.national_profiles:
        out.append("  a framework code: values come from the DSO or a national profile:")
        out += [f"    {p}" for p in s.national_profiles]
    c = s.controls
    out += ["", "Protection (the unit trips or ceases when beyond the threshold for the time)"]
    any_trip = False
    for ct in _TRIP_ORDER:
        spec = c.get(ct)
        if not isinstance(spec, TripControl):
            continue
        any_trip = True
        curve = spec.curve
        sign = ">" if curve.direction is Direction.OVER else "<"
        action = "ceases (momentary cessation)" if "MomCess" in ct else "trips"
        for st in sorted(curve.stages, key=lambda x: x.clearing_s):
            if _is_voltage(ct):
                q = f"V {sign} {st.threshold:g} % ({st.threshold / 100.0 * nv:.1f} V)"
            else:
                q = f"f {sign} {st.threshold:g} Hz"
            out.append(f"  {ct:<12} {q:<28} for {st.clearing_s:g} s -> {action}")
        allowed = s.ranges.describe(_SETTING_KEY.get(ct, ""))
        if allowed:
            out.append(f"  {'':<12} allowed by the code: {allowed}")
    if s.mean_overvoltage is not None:
        m = s.mean_overvoltage
        out.append(
            f"  10-min mean  V > {m.threshold_pct:g} % ({m.threshold_pct / 100.0 * nv:.1f} V)"
            f" -> trips within {m.trip_delay_s:g} s"
        )
    if not any_trip and s.mean_overvoltage is None:
        out.append("  none configured")
    es = c.get("EnterService")
    out += ["", "Enter service (after power-up and after every trip)"]
    if isinstance(es, EnterServiceSpec):
        out.append(
            f"  window {es.low_voltage_pct:g}-{es.high_voltage_pct:g} % "
            f"({es.low_voltage_pct / 100 * nv:.1f}-{es.high_voltage_pct / 100 * nv:.1f} V), "
            f"{es.low_freq_hz:g}-{es.high_freq_hz:g} Hz, held {es.delay_s:g} s"
            + (f" + random 0-{es.random_delay_s:g} s" if es.random_delay_s else "")
        )
        out.append(
            f"  then power ramps to full over {es.ramp_s:g} s"
            if es.ramp_s > 0
            else "  then full power at once"
        )
    else:
        out.append("  not set by the preset: defaults apply after a trip (EN 50549-1 4.10)")
    fd = c.get("FreqDroop")
    out += ["", "Frequency droop"]
    if isinstance(fd, FreqDroopSpec):
        ref = droop_rating_w(rating)
        basis = (
            f"P_rated = {ref:g} W (the discharge nameplate, both directions)"
            if s.droop_reference is DroopReference.RATED
            else "P_ref = active power when the event starts (capped at the rating)"
        )
        out.append(
            f"  above {fd.over_freq_hz:g} Hz: {fd.over_droop * 100:g} % droop; below "
            f"{fd.under_freq_hz:g} Hz: {fd.under_droop * 100:g} % droop; 90 % in "
            f"{fd.response_time_s:g} s; {basis}"
        )
        out.append("  f (Hz)    change (W, + = more charging) at P_rated")
        for f in _droop_points(fd, nf):
            out.append(f"  {f:8.3f}  {droop_delta_w(fd, f, nf, ref):+9.0f}")
    else:
        out.append("  off")
    for name, key in (
        ("Volt-var", "VoltVar"),
        ("Volt-watt", "VoltWatt"),
        ("Freq-watt", "FreqWatt"),
    ):
        spec = c.get(key)
        if isinstance(spec, VoltVarSpec | WattCurveSpec):
            x_unit = "Hz" if key == "FreqWatt" else "% V"
            y_unit = "% of max var (+ inject)" if key == "VoltVar" else "% of rated P (+ inject)"
            pts = ", ".join(f"({x:g} {x_unit}, {y:g})" for x, y in spec.points)
            out += ["", f"{name}: {pts}; y in {y_unit}; 90 % in {spec.response_time_s:g} s"]
            if isinstance(spec, VoltVarSpec):
                out.append(
                    f"  vRef {spec.vref_pct:g} %"
                    + (" (autonomous)" if spec.autonomous_vref else "")
                )
    for key in ("FixedPFAbsorb", "FixedPFInject", "FixedVar", "WattVar", "WattPF"):
        spec2 = c.get(key)
        if isinstance(spec2, FixedPFSpec):
            out += ["", f"{key}: cos phi {spec2.displacement:g}"]
        elif isinstance(spec2, FixedVarSpec):
            out += ["", f"{key}: {spec2.setpoint_pct:g} % of max var"]
        elif isinstance(spec2, WattVarSpec | WattPFSpec):
            out += ["", f"{key}: " + ", ".join(f"({x:g}, {y:g})" for x, y in spec2.points)]
    gr = c.get("Gradients")
    if isinstance(gr, GradientSpec):
        out += [
            "",
            f"Gradients: full scale in {gr.gradient_s:g} s, soft start {gr.soft_gradient_s:g} s",
        ]
    lmd = c.get("LimitMaxDischarge")
    if isinstance(lmd, LimitMaxDischargeSpec) and lmd.pct is not None:
        out += ["", f"Limit max discharge: {lmd.pct:g} % of {rating.max_discharge_w:g} W"]
    return out


def _droop_points(fd: FreqDroopSpec, nominal: float) -> list[float]:
    span = 2.0 if nominal >= 55.0 else 1.5
    lo, hi = fd.under_freq_hz - span, fd.over_freq_hz + span
    n = 9
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def plot(s: GridSettings, rating: PowerStageRating, path: Path) -> None:
    """Trip curves (time vs. quantity), droop, volt-var and volt-watt in one PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no screen on a board or in CI
    import matplotlib.pyplot as plt

    c = s.controls
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax_v, ax_f, ax_droop, ax_vv = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
    for ct in _TRIP_ORDER:
        spec = c.get(ct)
        if not isinstance(spec, TripControl):
            continue
        stages = sorted(spec.curve.stages, key=lambda x: x.clearing_s)
        ax = ax_v if _is_voltage(ct) else ax_f
        ts = [max(st.clearing_s, 0.01) for st in stages]
        ys = [st.threshold for st in stages]
        ax.step([*ts, ts[-1] * 10], [*ys, ys[-1]], where="post", label=ct)
        ax.plot(ts, ys, "o")
    for ax, unit in ((ax_v, "voltage (% of nominal)"), (ax_f, "frequency (Hz)")):
        ax.set_xscale("log")
        ax.set_xlabel("clearing time (s)")
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fd = c.get("FreqDroop")
    if isinstance(fd, FreqDroopSpec):
        fs = _droop_points(fd, s.nominal_frequency_hz)
        fs = [fs[0] + (fs[-1] - fs[0]) * i / 200 for i in range(201)]
        ref = droop_rating_w(rating)
        ax_droop.plot(fs, [droop_delta_w(fd, f, s.nominal_frequency_hz, ref) for f in fs])
    ax_droop.set_xlabel("frequency (Hz)")
    ax_droop.set_ylabel("power change (W, + = more charging)")
    ax_droop.set_title("frequency droop")
    ax_droop.grid(True, alpha=0.3)
    for key, style in (("VoltVar", "-"), ("VoltWatt", "--")):
        spec = c.get(key)
        if isinstance(spec, VoltVarSpec | WattCurveSpec):
            xs: Sequence[float] = [p[0] for p in spec.points]
            ys2: Sequence[float] = [p[1] for p in spec.points]
            ax_vv.plot(xs, ys2, style, marker="o", label=key)
    ax_vv.set_xlabel("voltage (% of nominal)")
    ax_vv.set_ylabel("% (Q of max var / P of rating)")
    ax_vv.set_title("volt-var and volt-watt")
    ax_vv.grid(True, alpha=0.3)
    if ax_vv.lines:
        ax_vv.legend(fontsize=7)
    fig.suptitle(f"grid settings: {s.preset or 'custom'}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
