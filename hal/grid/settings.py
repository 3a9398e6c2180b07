"""Grid settings: the `[grid]` table of the station config (preset + overrides).

`preset = "<name>"` loads the preset shipped in the package (`hal/grid/presets/<name>.toml`,
so an installed station needs no copy of them); a value with a `/` or ending in `.toml`
is a file of one's own, relative to the station config's folder. A preset's keys have the
same shape as `[grid]`; the station's `[grid]` then overrides it key by key (tables merge,
values and arrays replace). A function is on when its table is present; `enabled =
false` in the station config switches a preset's function off. OCPP directives take
precedence over these per control type (the engine does that).

Units as in controls.py: voltage in % of nominal, frequency in Hz, time in s. Trip
curves are arrays of [clearing_time_s, threshold] stages; function curves arrays of
[x, y] points. Every error is a ConfigError naming the key (prefixed with the preset
file when the value came from there).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from hal.config_reader import ConfigError, Table
from hal.grid import controls as c
from hal.grid.curves import CurveError
from hal.grid.freq_droop import DroopReference
from hal.grid.ranges import EMPTY, Ranges, check_ranges, parse_ranges

T = TypeVar("T")
PRESETS = Path(__file__).resolve().parent / "presets"  # shipped as package data

# [grid.trip] key -> OCPP control type
TRIP_KEYS = {
    "hv_must_trip": "HVMustTrip",
    "lv_must_trip": "LVMustTrip",
    "hf_must_trip": "HFMustTrip",
    "lf_must_trip": "LFMustTrip",
    "hv_may_trip": "HVMayTrip",
    "lv_may_trip": "LVMayTrip",
    "hf_may_trip": "HFMayTrip",
    "hv_mom_cess": "HVMomCess",
    "lv_mom_cess": "LVMomCess",
}
CURVE_KEYS = {
    "volt_var": "VoltVar",
    "volt_watt": "VoltWatt",
    "freq_watt": "FreqWatt",
    "watt_var": "WattVar",
    "watt_pf": "WattPF",
}


@dataclass(frozen=True, slots=True)
class GridSettings:
    preset: str | None
    nominal_voltage_v: float  # line-to-neutral
    nominal_frequency_hz: float
    droop_reference: DroopReference = DroopReference.RATED
    controls: Mapping[str, c.Spec] = field(default_factory=dict)  # control type -> spec
    mean_overvoltage: c.MeanSpec | None = None
    source: str = ""  # the preset's citation
    confirm_locally: tuple[str, ...] = ()  # keys the preset marks as needing confirmation
    random_seed: int | None = None  # enter-service random delay; None = from the OS
    ranges: Ranges = EMPTY  # what the grid code allows (preset `[ranges]`), checked at load
    national_profiles: tuple[str, ...] = ()  # where a framework code (EN 50549-1) defers


def shipped_presets() -> list[str]:
    """The names of the presets that come with the package."""
    return sorted(p.name.removesuffix(".toml") for p in PRESETS.glob("*.toml"))


def preset_path(table: Table, preset: str, config_dir: Path) -> Path:
    if "/" in preset or preset.endswith(".toml"):
        path = Path(preset)
        return path if path.is_absolute() else config_dir / path
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", preset):
        raise ConfigError(table.key("preset"), preset, "a preset name is [a-z0-9._-]")
    path = PRESETS / f"{preset}.toml"
    if not path.is_file():
        known = ", ".join(shipped_presets())
        raise ConfigError(table.key("preset"), preset, f"no such preset (shipped: {known})")
    return path


def parse_grid_settings(table: Table, config_dir: Path) -> GridSettings:
    """`config_dir`: the station config's folder (a preset given as a path is relative
    to it)."""
    preset = table.opt_str("preset")
    data: dict[str, Any] = {}
    origin = ""
    if preset is not None:
        path = preset_path(table, preset, config_dir)
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except OSError as e:
            raise ConfigError(table.key("preset"), preset, f"{path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(table.key("preset"), preset, f"{path}: {e}") from None
        origin = str(path)
    own = {k: table.raw(k) for k in table.names() if k != "preset"}
    for preset_only in ("ranges", "national_profiles"):
        if preset_only in own:
            raise ConfigError(
                table.key(preset_only),
                own[preset_only],
                "comes from the grid code (the preset file) and cannot be overridden here",
            )
    # The code's own ranges and the national profiles it defers to: preset-only keys.
    raw_ranges = data.pop("ranges", None)
    raw_profiles = data.pop("national_profiles", [])
    merged = _merge(data, own)
    try:
        ranges = parse_ranges(f"{table.path}.ranges", raw_ranges)
        if not isinstance(raw_profiles, list) or not all(isinstance(x, str) for x in raw_profiles):
            raise ConfigError(f"{table.path}.national_profiles", raw_profiles, "an array of names")
        settings = _parse(Table(merged, table.path), preset)
    except ConfigError as e:
        if origin and not _has_key(own, e.key.removeprefix(table.path + ".")):
            raise ConfigError(f"{origin}: {e.key}", e.value, e.reason) from None
        raise
    code = settings.source.split(",")[0] or (preset or "the grid code")
    check_ranges(merged, ranges, table.path, code)
    return replace(settings, ranges=ranges, national_profiles=tuple(raw_profiles))


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _has_key(d: Mapping[str, Any], dotted: str) -> bool:
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return False
        cur = cur[part]
    return True


def _parse(t: Table, preset: str | None) -> GridSettings:
    nominal_v = t.get_float("nominal_voltage_v", 230.0, lo=50.0, hi=400.0)
    nominal_f = t.get_float("nominal_frequency_hz", 50.0, lo=45.0, hi=65.0)
    ref = DroopReference(t.choice("droop_reference", [r.value for r in DroopReference], "rated"))
    source = t.get_str("source", "")
    confirm = t.raw("confirm_locally", [])
    if not isinstance(confirm, list) or not all(isinstance(x, str) for x in confirm):
        raise ConfigError(t.key("confirm_locally"), confirm, "must be an array of key names")
    seed = t.get_int("random_seed", None) if t.raw("random_seed", None) is not None else None
    controls: dict[str, c.Spec] = {}
    mean: c.MeanSpec | None = None

    if t.has("trip"):
        trip = t.table("trip")
        reactive = trip.get_bool("reactive_during_cessation", False)
        for key, ctype in TRIP_KEYS.items():
            if trip.has(key):
                controls[ctype] = _build(
                    trip,
                    key,
                    partial(c.build_trip, ctype, _pairs(trip, key), nominal_f, None, reactive),
                )
        trip.reject_unknown()
    mo = _section(t, "mean_overvoltage")
    if mo is not None:
        m = c.MeanSpec(
            mo.get_float("threshold_pct", lo=100.0, hi=150.0),
            mo.get_float("trip_delay_s", 0.0, lo=0.0, hi=3600.0),
        )
        mean = m
        mo.reject_unknown()
    es = _section(t, "enter_service")
    if es is not None:
        controls["EnterService"] = _build(
            es,
            None,
            lambda: c.build_enter_service(
                es.get_float("low_voltage_pct"),
                es.get_float("high_voltage_pct"),
                es.get_float("low_freq_hz"),
                es.get_float("high_freq_hz"),
                es.get_float("delay_s", 0.0),
                es.get_float("random_delay_s", 0.0),
                es.get_float("ramp_s", 0.0),
                nominal_f,
            ),
        )
        es.reject_unknown()
    fd = _section(t, "freq_droop")
    if fd is not None:
        controls["FreqDroop"] = _build(
            fd,
            None,
            lambda: c.build_freq_droop(
                fd.get_float("over_freq_hz"),
                fd.get_float("under_freq_hz"),
                fd.get_float("over_droop"),
                fd.get_float("under_droop"),
                fd.get_float("response_time_s", 0.0),
                nominal_f,
            ),
        )
        fd.reject_unknown()
    for key, ctype in CURVE_KEYS.items():
        ct = _section(t, key)
        if ct is None:
            continue
        is_vv = ctype == "VoltVar"
        build = partial(
            c.build_curve,
            ctype,
            _pairs(ct, "points"),
            nominal_f,
            ct.get_float("response_time_s", 0.0),
            None,
            ct.get_float("vref_pct", 100.0) if is_vv else 100.0,
            ct.get_bool("autonomous_vref", False) if is_vv else False,
            ct.get_float("vref_time_constant_s", 0.0) if is_vv else 0.0,
        )
        controls[ctype] = _build(ct, "points", build)
        ct.reject_unknown()
    for key, ctype in (("fixed_pf_absorb", "FixedPFAbsorb"), ("fixed_pf_inject", "FixedPFInject")):
        pf = _section(t, key)
        if pf is not None:
            controls[ctype] = _build(
                pf,
                "displacement",
                partial(
                    c.build_fixed_pf, ctype, pf.get_float("displacement"), pf.get_bool("excitation")
                ),
            )
            pf.reject_unknown()
    fv = _section(t, "fixed_var")
    if fv is not None:
        controls["FixedVar"] = _build(
            fv, "setpoint_pct", lambda: c.build_fixed_var(fv.get_float("setpoint_pct"), "PctMaxVar")
        )
        fv.reject_unknown()
    gr = _section(t, "gradients")
    if gr is not None:
        controls["Gradients"] = _build(
            gr,
            None,
            lambda: c.build_gradient(
                gr.get_float("gradient_s", 0.0), gr.get_float("soft_gradient_s", 0.0)
            ),
        )
        gr.reject_unknown()
    lmd = _section(t, "limit_max_discharge")
    if lmd is not None:
        controls["LimitMaxDischarge"] = _build(
            lmd, None, lambda: c.build_limit_max_discharge(lmd.get_float("pct"), None)
        )
        lmd.reject_unknown()
    t.reject_unknown()
    return GridSettings(
        preset=preset,
        nominal_voltage_v=nominal_v,
        nominal_frequency_hz=nominal_f,
        droop_reference=ref,
        controls=controls,
        mean_overvoltage=mean,
        source=source,
        confirm_locally=tuple(confirm),
        random_seed=seed,
    )


def _section(t: Table, name: str) -> Table | None:
    """A function table, or None when absent or `enabled = false`."""
    if not t.has(name):
        return None
    sub = t.table(name)
    if not sub.get_bool("enabled", True):
        for k in sub.names():
            sub.raw(k)  # a disabled table may keep its values
        return None
    return sub


def _pairs(t: Table, key: str) -> list[tuple[float, float]]:
    raw = t.raw(key)
    if not isinstance(raw, list) or not all(
        isinstance(p, list)
        and len(p) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
        for p in raw
    ):
        raise ConfigError(t.key(key), raw, "must be an array of [x, y] number pairs")
    return [(float(p[0]), float(p[1])) for p in raw]


def _build(t: Table, key: str | None, fn: Callable[[], T]) -> T:
    """Run a builder; its CurveError becomes a ConfigError on the key (or the table)."""
    try:
        return fn()
    except CurveError as e:
        if key is None:
            raise ConfigError(t.path, "...", str(e)) from None
        raise ConfigError(t.key(key), t.raw(key, None), str(e)) from None
