"""The grid controls in force become the settings a power stage enforces on its own."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hal.config_reader import Table
from hal.devices.protection_settings import protection_settings
from hal.grid.settings import parse_grid_settings

ROOT = Path(__file__).resolve().parents[3]


def test_vde_ar_n_4105_preset() -> None:
    g = parse_grid_settings(Table({"preset": "vde-ar-n-4105"}, "grid"), ROOT / "config")
    s = protection_settings(g.controls, g.nominal_frequency_hz)
    assert s["trip_lv"] == {"must_trip": [[45.0, 0.3], [80.0, 3.0]]}
    assert s["trip_hv"] == {"must_trip": [[125.0, 0.1]]}
    assert s["trip_hf"] == {"must_trip": [[51.5, 0.1]]}
    assert s["trip_lf"] == {"must_trip": [[47.5, 0.1]]}
    es = s["enter_service"]
    assert (es["v_lo_pct"], es["v_hi_pct"], es["hz_lo"], es["hz_hi"]) == (90.0, 110.0, 47.5, 50.1)
    assert (es["delay_s"], es["ramp_s"]) == (60.0, 600.0)
    d = s["freq_droop"]
    assert d["db_of_hz"] == pytest.approx(0.2) and d["db_uf_hz"] == pytest.approx(0.2)
    assert (d["k_of"], d["k_uf"], d["resp_s"]) == (0.05, 0.05, 2.0)


def test_curves_fixed_pf_and_limit() -> None:
    text = """
[volt_var]
points = [[92.0, 44.0], [98.0, 0.0], [102.0, 0.0], [108.0, -44.0]]
response_time_s = 5.0
[fixed_pf_inject]
displacement = 0.95
excitation = true
[limit_max_discharge]
pct = 60.0
"""
    g = parse_grid_settings(Table(tomllib.loads(text), "grid"), ROOT / "config")
    s = protection_settings(g.controls, 50.0)
    assert s["volt_var"] == {
        "points": [[92.0, 44.0], [98.0, 0.0], [102.0, 0.0], [108.0, -44.0]],
        "resp_s": 5.0,
    }
    assert s["fixed_pf"] == {"pf": 0.95, "excitation": "under"}
    assert s["w_max_lim_pct"] == {"pct": 60.0}
    assert "trip_lv" not in s


def test_no_controls_no_settings() -> None:
    assert protection_settings({}, 50.0) == {}
