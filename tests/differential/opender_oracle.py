"""EPRI OpenDER as an independent model of IEEE 1547-2018, run beside hal/grid/engine.py.

The same voltage / frequency series goes to both at the same sample period; each sample
yields (our state, our P and Q, OpenDER's status, its P and Q). OpenDER is configured
from OUR settings (the preset after overrides), so a difference is a difference in how a
setting is executed, not in what was set.

Conventions bridged here:
- Sign: OpenDER's active power is + when the unit generates (discharges); ours is + when
  the car charges. Reactive power is + when injecting in both.
- Voltage: OpenDER in per unit; ours in % of nominal.
- Volt-var: OpenDER's Q is per unit of NP_VA_MAX; ours is % of the unit's var rating.
  NP_VA_MAX is sized so the apparent-power limit never binds (we have no VA priority
  rule yet; see docs/grid-functions.md).
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opender
from opender import DER_BESS, DERCommonFileFormatBESS

from hal.config_reader import Table
from hal.devices.base import GridSample, PowerStageRating
from hal.grid.controls import TripControl
from hal.grid.engine import GridEngine, GridState
from hal.grid.enter_service import EnterServiceSpec
from hal.grid.freq_droop import FreqDroopSpec
from hal.grid.settings import GridSettings, parse_grid_settings
from hal.grid.volt_var import VoltVarSpec
from hal.grid.volt_watt import WattCurveSpec

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
RATING = PowerStageRating(max_charge_w=11000.0, max_discharge_w=10000.0, max_var=5000.0, phases=3)


def settings(preset: str, overrides: Mapping[str, Any] | None = None) -> GridSettings:
    """Our settings for `preset` with `[grid]` overrides, as the station config gives them."""
    return parse_grid_settings(Table({**(overrides or {}), "preset": preset}, "grid"), CONFIG_DIR)


CATEGORY = {"ieee1547-cat1": "CAT_I", "ieee1547-cat2": "CAT_II", "ieee1547-cat3": "CAT_III"}

# OpenDER trip settings by stage: (our control type, index of the stage by threshold
# order from nominal outwards) -> (OpenDER voltage/frequency key, time key)
_TRIP_KEYS = {
    "HVMustTrip": (("OV1_TRIP_V", "OV1_TRIP_T"), ("OV2_TRIP_V", "OV2_TRIP_T")),
    "LVMustTrip": (("UV1_TRIP_V", "UV1_TRIP_T"), ("UV2_TRIP_V", "UV2_TRIP_T")),
    "HFMustTrip": (("OF1_TRIP_F", "OF1_TRIP_T"), ("OF2_TRIP_F", "OF2_TRIP_T")),
    "LFMustTrip": (("UF1_TRIP_F", "UF1_TRIP_T"), ("UF2_TRIP_F", "UF2_TRIP_T")),
}


@dataclass(frozen=True, slots=True)
class Step:
    t: float
    v_pu: float
    f_hz: float
    ours_state: GridState
    ours_p_w: float  # station sign (+ charges)
    ours_q_var: float
    od_status: str
    od_p_w: float  # converted to the station sign
    od_q_var: float


def oracle(settings: GridSettings, rating: PowerStageRating, preset: str, dt: float) -> DER_BESS:
    """An OpenDER BESS configured from our settings."""
    opender.DER.t_s = dt  # OpenDER keeps its time step on the class
    f = DERCommonFileFormatBESS()
    f.NP_NORMAL_OP_CAT = "CAT_B"
    f.NP_ABNORMAL_OP_CAT = CATEGORY[preset]  # sets the category's default trips first
    f.NP_AC_V_NOM = settings.nominal_voltage_v
    f.NP_P_MAX = rating.max_discharge_w
    f.NP_P_MAX_CHARGE = rating.max_charge_w
    va = math.hypot(max(rating.max_discharge_w, rating.max_charge_w), rating.max_var) * 1.01
    f.NP_VA_MAX = va
    f.NP_APPARENT_POWER_CHARGE_MAX = va
    f.NP_Q_MAX_INJ = rating.max_var
    f.NP_Q_MAX_ABS = rating.max_var
    f.NP_P_MAX_OVER_PF = rating.max_discharge_w
    f.NP_P_MAX_UNDER_PF = rating.max_discharge_w
    f.NP_OVER_PF = 0.1
    f.NP_UNDER_PF = 0.1
    f.NP_PHASE = "SINGLE"
    f.NP_SET_EXE_TIME = 0
    controls = settings.controls
    for ctype, keys in _TRIP_KEYS.items():
        spec = controls.get(ctype)
        if not isinstance(spec, TripControl):
            continue
        stages = spec.curve.stages
        over = ctype.startswith("H")
        scale = 1.0 if ctype.endswith("FMustTrip") else 0.01
        # Stage 1 is the one nearest nominal (OV1 / UV1 / OF1 / UF1).
        ordered = sorted(stages, key=lambda s: s.threshold, reverse=not over)
        for (vkey, tkey), stage in zip(keys, ordered, strict=False):
            setattr(f, vkey, stage.threshold * scale)
            setattr(f, tkey, stage.clearing_s)
    mc = controls.get("LVMomCess")
    if isinstance(mc, TripControl):
        f.MC_ENABLE = True
        f.MC_LVRT_V1 = mc.curve.stages[0].threshold / 100.0
    hv_mc = controls.get("HVMomCess")
    if isinstance(hv_mc, TripControl):
        f.MC_HVRT_V1 = hv_mc.curve.stages[0].threshold / 100.0
    es = controls.get("EnterService")
    if isinstance(es, EnterServiceSpec):
        f.ES_V_LOW = es.low_voltage_pct / 100.0
        f.ES_V_HIGH = es.high_voltage_pct / 100.0
        f.ES_F_LOW = es.low_freq_hz
        f.ES_F_HIGH = es.high_freq_hz
        f.ES_DELAY = es.delay_s
        f.ES_RANDOMIZED_DELAY = 0
        f.ES_RAMP_RATE = es.ramp_s
    fd = controls.get("FreqDroop")
    if isinstance(fd, FreqDroopSpec):
        f.PF_MODE_ENABLE = True
        f.PF_DBOF = fd.over_freq_hz - settings.nominal_frequency_hz
        f.PF_DBUF = settings.nominal_frequency_hz - fd.under_freq_hz
        f.PF_KOF = fd.over_droop
        f.PF_KUF = fd.under_droop
        f.PF_OLRT = fd.response_time_s
    else:
        f.PF_MODE_ENABLE = False
    vv = controls.get("VoltVar")
    if isinstance(vv, VoltVarSpec):
        points = list(vv.points)
        if len(points) == 3:  # Category A: OpenDER's curve has four points, no dead band
            points = [points[0], points[1], points[1], points[2]]
            f.NP_NORMAL_OP_CAT = "CAT_A"  # first: the category setter resets QV_* defaults
        f.QV_MODE_ENABLE = True
        f.QV_VREF = vv.vref_pct / 100.0
        f.QV_VREF_AUTO_MODE = False
        f.QV_OLRT = vv.response_time_s
        if len(points) != 4:
            raise ValueError(f"OpenDER models a 4-point volt-var curve, got {len(points)}")
        for k, (v, q) in enumerate(points, start=1):
            setattr(f, f"QV_CURVE_V{k}", v / 100.0)
            setattr(f, f"QV_CURVE_Q{k}", q / 100.0 * rating.max_var / va)
    vw = controls.get("VoltWatt")
    if isinstance(vw, WattCurveSpec):
        f.PV_MODE_ENABLE = True
        (v1, p1), (v2, p2) = vw.points[0], vw.points[-1]
        f.PV_CURVE_V1, f.PV_CURVE_P1 = v1 / 100.0, p1 / 100.0
        f.PV_CURVE_V2, f.PV_CURVE_P2 = v2 / 100.0, p2 / 100.0
        f.PV_OLRT = vw.response_time_s
    # Settings go into the file object before the model is built: DER_BESS.reinitialize()
    # (inherited from DER) swaps the BESS active-power function for the generic one,
    # which then outputs the available power (1 pu) instead of the demand.
    return DER_BESS(f)


def run_both(
    engine: GridEngine,
    der: DER_BESS,
    nominal_v: float,
    series: Sequence[tuple[float, float]],
    request_w: float,
    dt: float,
    t0: float = 0.0,
) -> list[Step]:
    """Feed `series` of (V pu, f Hz) to both, one sample per `dt`; the stage follows its
    setpoint at once (the stage's own dynamics are not what is compared)."""
    out: list[Step] = []
    measured = 0.0
    for k, (v_pu, f_hz) in enumerate(series):
        t = t0 + k * dt
        d = engine.step(t, GridSample(t, (v_pu * nominal_v,) * 3, f_hz), request_w, measured)
        measured = d.setpoint_w
        der.update_der_input(v_pu=v_pu, f=f_hz, p_dem_w=-request_w)
        p, q = der.run()
        out.append(
            Step(
                t,
                v_pu,
                f_hz,
                engine.state,
                d.setpoint_w,
                d.reactive_var,
                str(der.der_status),
                -float(p),
                float(q),
            )
        )
    return out


def edges(steps: Sequence[Step], ours: bool) -> tuple[list[int], list[int]]:
    """Sample indices where a trip begins and where it ends."""
    starts: list[int] = []
    ends: list[int] = []
    prev = False
    for k, s in enumerate(steps):
        now = s.ours_state is GridState.TRIPPED if ours else s.od_status == "Trip"
        if now and not prev:
            starts.append(k)
        elif prev and not now:
            ends.append(k)
        prev = now
    return starts, ends


def trip_differences(
    steps: Sequence[Step],
    boundary: Callable[[int], bool] | None = None,
    returning: Callable[[int], bool] | None = None,
) -> list[str]:
    """Trips and returns to service: each edge of one model must be the other's at the
    same sample or ours one sample later (ours never earlier).

    The sampling boundary: OpenDER counts the first sample beyond a threshold (or inside
    the enter-service window) as one full period, ours times from that sample, so ours
    acts one sample later. An excursion that ends on exactly that sample moves OpenDER
    only; `boundary(k)` / `returning(k)` check, by holding the series one sample longer,
    that ours then does the same at k + 1. After such an OpenDER-only edge the two run
    apart until the next edge of one of them, which is checked like any other."""
    o_start, o_end = edges(steps, ours=True)
    d_start, d_end = edges(steps, ours=False)

    def ours_tripped(k: int) -> bool:
        return k >= 0 and steps[k].ours_state is GridState.TRIPPED

    def od_tripped(k: int) -> bool:
        return k >= 0 and steps[k].od_status == "Trip"

    out: list[str] = []
    od_only: set[int] = set()  # OpenDER trips ours has no part in (boundary)
    for k in d_start:
        if any(k <= j <= k + 1 for j in o_start) or ours_tripped(k - 1):
            continue  # matched, or ours has been tripped since before (see the returns)
        if boundary is not None and boundary(k):
            od_only.add(k)
            continue
        out.append(f"OpenDER trip at t={steps[k].t:.2f} s, ours not within one sample")
    for j in o_start:
        if any(k <= j <= k + 1 for k in d_start) or od_tripped(j - 1):
            continue
        out.append(f"our trip at t={steps[j].t:.2f} s, OpenDER none within one sample")
    for e in d_end:
        start = max((k for k in d_start if k < e), default=-1)
        if start in od_only or any(e <= j <= e + 1 for j in o_end):
            continue
        if not ours_tripped(e) or (returning is not None and returning(e)):
            continue  # ours was in service already, or the boundary
        out.append(f"OpenDER return to service at t={steps[e].t:.2f} s, ours not within one sample")
    for j in o_end:
        if any(e <= j <= e + 1 for e in d_end) or not od_tripped(j - 1):
            continue  # matched, or OpenDER was back in service already (checked above)
        out.append(f"our return to service at t={steps[j].t:.2f} s, OpenDER none within one sample")
    return out


def compare(
    steps: Sequence[Step],
    rating: PowerStageRating,
    settle_s: float,
    dt: float,
    request_w: float,
    band: tuple[float, float] | None,
    stats: dict[str, int] | None = None,
    boundary: Callable[[int], bool] | None = None,
    returning: Callable[[int], bool] | None = None,
) -> list[str]:
    """Differences: trip starts and ends more than one sample apart (ours never earlier),
    and P / Q more than 1 % of rated apart once both have settled (inputs held for
    `settle_s` and both in normal operation all that time).

    A frequency-droop event is compared only when it began from a steady output (both at
    the request): IEEE 1547-2018 6.5.2.7.2 scales from the pre-disturbance power, which
    OpenDER takes as its output at activation, even when that output was zero from a
    momentary cessation or part of an enter-service ramp; ours takes the dispatched power
    (docs/grid-functions.md, "Differences from OpenDER").
    """
    out = trip_differences(steps, boundary, returning)
    if stats is not None:
        stats["trips"] = stats.get("trips", 0) + len(edges(steps, ours=False)[0])
    hold = round(settle_s / dt)
    p_tol = 0.01 * max(rating.max_charge_w, rating.max_discharge_w)
    q_tol = 0.01 * rating.max_var
    side = 0  # -1 below the droop band, +1 above, 0 inside
    event_ok = True
    for k, s in enumerate(steps):
        new_side = 0
        if band is not None:
            new_side = 1 if s.f_hz > band[1] else -1 if s.f_hz < band[0] else 0
        if new_side != side and new_side != 0:
            prev = steps[k - 1] if k > 0 else s
            event_ok = (
                prev.ours_state is GridState.NORMAL
                and prev.od_status == "Continuous Operation"
                and abs(prev.ours_p_w - request_w) <= p_tol
                and abs(prev.od_p_w - request_w) <= p_tol
            )
        side = new_side
        if k < hold or (side != 0 and not event_ok):
            continue
        window = steps[k - hold : k + 1]
        if any(
            (w.v_pu, w.f_hz) != (s.v_pu, s.f_hz)
            or w.ours_state is not GridState.NORMAL
            or w.od_status != "Continuous Operation"
            for w in window
        ):
            continue
        if stats is not None:
            stats["compared"] = stats.get("compared", 0) + 1
            if side != 0:
                stats["droop"] = stats.get("droop", 0) + 1
        if abs(s.ours_p_w - s.od_p_w) > p_tol or abs(s.ours_q_var - s.od_q_var) > q_tol:
            out.append(
                f"t={s.t:.2f} s V={s.v_pu:.4f} pu f={s.f_hz:.3f} Hz: "
                f"P ours {s.ours_p_w:.0f} W OpenDER {s.od_p_w:.0f} W, "
                f"Q ours {s.ours_q_var:.0f} var OpenDER {s.od_q_var:.0f} var"
            )
            break  # one per series is enough to read
    return out


def random_series(
    rng: random.Random, settings: GridSettings, seconds: float, dt: float
) -> list[tuple[float, float]]:
    """Piecewise series: holds, steps, ramps, short excursions and chatter around the
    preset's own thresholds, within and beyond its limits."""
    nominal_f = settings.nominal_frequency_hz
    v_marks = [1.0]
    f_marks = [nominal_f]
    for spec in settings.controls.values():
        if isinstance(spec, TripControl):
            for st in spec.curve.stages:
                if st.threshold > 20.0:  # a voltage in %
                    v_marks.append(st.threshold / 100.0)
                else:
                    f_marks.append(st.threshold)
    n = round(seconds / dt)
    out: list[tuple[float, float]] = []
    v, f = 1.0, nominal_f
    while len(out) < n:
        kind = rng.choice(("hold", "hold", "step", "ramp", "excursion", "chatter"))
        length = max(1, round(rng.uniform(0.1, 4.0) / dt))
        seg: list[tuple[float, float]]
        if kind == "hold":
            seg = [(v, f)] * length
        elif kind == "step":
            v = rng.uniform(0.93, 1.07)
            f = nominal_f + rng.uniform(-0.5, 0.5)
            seg = [(v, f)] * length
        elif kind == "ramp":
            v1 = rng.uniform(0.9, 1.12)
            f1 = nominal_f + rng.uniform(-1.2, 1.2)
            seg = [(v + (v1 - v) * i / length, f + (f1 - f) * i / length) for i in range(length)]
            v, f = v1, f1
        elif kind == "excursion":
            if rng.random() < 0.5:
                mark = rng.choice(v_marks)
                seg = [(mark * rng.uniform(0.9, 1.1), f)] * length
            else:
                mark = rng.choice(f_marks)
                seg = [(v, mark + rng.uniform(-0.4, 0.4))] * length
            v, f = 1.0, nominal_f  # back to nominal after it
        else:  # chatter around a threshold
            mark = rng.choice(v_marks)
            seg = [
                (mark + rng.choice((-1, 1)) * rng.uniform(0.0005, 0.01), f) for _ in range(length)
            ]
        out.extend(seg)
    return out[:n]


# The settings the differential runs with: the preset, with the enter-service delay and
# ramp and the response times shortened (all adjustable in IEEE 1547-2018: delay 0-600 s,
# ramp 1-1000 s, response times per Tables 8, 10, 24) so events fit short series.
DIFFERENTIAL_OVERRIDES = {
    "enter_service": {"delay_s": 2.0, "ramp_s": 5.0},
    "freq_droop": {"response_time_s": 1.0},
    "volt_var": {"response_time_s": 1.0},
    "volt_watt": {"response_time_s": 1.0},
}
WARM_S = 9.0  # at nominal first: both models start in service (ours ramps in, OpenDER is on)
SETTLE_S = 3.0  # inputs held this long before P and Q are compared (> 2x every response time)


def differential(
    settings: GridSettings,
    rating: PowerStageRating,
    preset: str,
    seed: int,
    seconds: float = 30.0,
    dt: float = 0.02,
    request_w: float = -5000.0,
    stats: dict[str, int] | None = None,
) -> list[str]:
    """One random series through both models; the differences found (empty: clean)."""
    series = random_series(random.Random(seed), settings, seconds, dt)
    warm = [(1.0, settings.nominal_frequency_hz)] * round(WARM_S / dt)

    def ours_only(s: Sequence[tuple[float, float]]) -> list[GridState]:
        eng = GridEngine(rating, settings, random.Random(1))
        states: list[GridState] = []
        measured = 0.0
        for k, (v_pu, f_hz) in enumerate([*warm, *s]):
            t = k * dt
            d = eng.step(
                t,
                GridSample(t, (v_pu * settings.nominal_voltage_v,) * 3, f_hz),
                request_w,
                measured,
            )
            measured = d.setpoint_w
            states.append(eng.state)
        return states[len(warm) :]

    eng = GridEngine(rating, settings, random.Random(1))
    der = oracle(settings, rating, preset, dt)
    run_both(eng, der, settings.nominal_voltage_v, warm, request_w, dt)
    steps = run_both(eng, der, settings.nominal_voltage_v, series, request_w, dt, t0=WARM_S)

    def boundary(k: int) -> bool:
        # OpenDER counts the first sample beyond a threshold as one full period, so it
        # trips after clearing_time / dt samples; ours times from that sample and trips
        # one sample later (never before the clearing time). An excursion that ends after
        # exactly that many samples trips OpenDER only. Honest check: held one sample
        # longer, the same excursion must trip ours at k + 1.
        longer = [*series[: k + 1], series[k], *series[k + 1 :]]
        return ours_only(longer)[k + 1] is GridState.TRIPPED

    def returning(k: int) -> bool:
        # The same counting at the end of the enter-service delay: OpenDER is back after
        # delay / dt samples in the window, ours one sample later. If the window closes
        # on exactly that sample, only OpenDER returns; held one sample longer, ours must.
        longer = [*series[: k + 1], series[k], *series[k + 1 :]]
        states = ours_only(longer)
        return states[k] is GridState.TRIPPED and states[k + 1] is not GridState.TRIPPED

    fd = settings.controls.get("FreqDroop")
    band = (fd.under_freq_hz, fd.over_freq_hz) if isinstance(fd, FreqDroopSpec) else None
    return compare(steps, rating, SETTLE_S, dt, request_w, band, stats, boundary, returning)


def _one(args: tuple[str, float, int, float]) -> tuple[int, list[str], dict[str, int]]:
    preset, request_w, seed, seconds = args
    logging.disable(logging.WARNING)  # OpenDER warns once per model about our Q rating
    stats: dict[str, int] = {}
    s = settings(preset, DIFFERENTIAL_OVERRIDES)
    return (
        seed,
        differential(s, RATING, preset, seed, seconds, request_w=request_w, stats=stats),
        stats,
    )


def run_many(
    preset: str, request_w: float, seeds: Sequence[int], seconds: float = 30.0
) -> tuple[dict[int, list[str]], dict[str, int]]:
    """Many series, on every core when there are many; differences by seed, and totals."""
    jobs = [(preset, request_w, seed, seconds) for seed in seeds]
    if len(jobs) > 20:
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = list(pool.map(_one, jobs, chunksize=8))
    else:
        results = [_one(j) for j in jobs]
    diffs = {seed: d for seed, d, _ in results if d}
    totals: dict[str, int] = {}
    for _, _, st in results:
        for k, v in st.items():
            totals[k] = totals.get(k, 0) + v
    return diffs, totals
