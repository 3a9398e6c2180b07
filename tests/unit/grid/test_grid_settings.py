"""Grid-code presets and key-by-key overrides of the `[grid]` table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gridtest_helpers import CONFIG_DIR, settings

from hal.config_reader import ConfigError, Table
from hal.grid.controls import TripControl
from hal.grid.enter_service import EnterServiceSpec
from hal.grid.freq_droop import DroopReference, FreqDroopSpec
from hal.grid.settings import parse_grid_settings

PRESETS = ["en50549-1", "vde-ar-n-4105", "ieee1547-cat1", "ieee1547-cat2", "ieee1547-cat3"]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_loads_cites_its_source_and_marks_local_values(preset: str) -> None:
    s = settings(preset)
    assert s.preset == preset
    assert s.source and s.confirm_locally
    assert {
        "HVMustTrip",
        "LVMustTrip",
        "HFMustTrip",
        "LFMustTrip",
        "EnterService",
        "FreqDroop",
    } <= set(s.controls)
    assert s.nominal_frequency_hz == (60.0 if preset.startswith("ieee") else 50.0)


def test_vde_values() -> None:
    s = settings("vde-ar-n-4105")
    hv = s.controls["HVMustTrip"]
    assert isinstance(hv, TripControl)
    assert [(st.clearing_s, st.threshold) for st in hv.curve.stages] == [(0.1, 125.0)]
    assert s.mean_overvoltage is not None and s.mean_overvoltage.threshold_pct == 110.0
    assert s.droop_reference is DroopReference.ACTIVATION
    assert s.controls["FreqDroop"] == FreqDroopSpec(50.2, 49.8, 0.05, 0.05, 2.0)


def test_override_key_by_key_and_disable_a_function() -> None:
    s = settings(
        "ieee1547-cat2",
        {
            "enter_service": {"delay_s": 10.0},
            "volt_var": {"enabled": False},
            "trip": {"hv_must_trip": [[0.16, 120.0], [5.0, 112.0]]},
        },
    )
    es = s.controls["EnterService"]
    assert isinstance(es, EnterServiceSpec)
    assert es.delay_s == 10.0 and es.ramp_s == 300.0 and es.low_voltage_pct == 91.7
    assert "VoltVar" not in s.controls
    hv = s.controls["HVMustTrip"]
    assert isinstance(hv, TripControl) and hv.curve.stages[1].threshold == 112.0
    lv = s.controls["LVMustTrip"]  # untouched keys of the same table stay from the preset
    assert isinstance(lv, TripControl) and lv.curve.stages[1].clearing_s == 10.0


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ({"preset": "nope"}, "grid.preset", "no such preset"),
        ({"preset": "VDE 4105"}, "grid.preset", "preset name"),
        (
            {"preset": "vde-ar-n-4105", "trip": {"hv_must_trip": [[125.0, 0.1]]}},
            "grid.trip.hv_must_trip",
            "time in s on x",
        ),
        (
            {"preset": "vde-ar-n-4105", "trip": {"hv_mustrip": [[0.1, 125.0]]}},
            "grid.trip.hv_mustrip",
            "unknown key",
        ),
        ({"volt_var": {"points": [[98.0, 0.0], [92.0, 44.0]]}}, "grid.volt_var.points", "sorted"),
        ({"volt_var": {"points": [[98.0, 0.0, 1.0]]}}, "grid.volt_var.points", "pairs"),
        (
            {
                "enter_service": {
                    "low_voltage_pct": 110.0,
                    "high_voltage_pct": 90.0,
                    "low_freq_hz": 49.9,
                    "high_freq_hz": 50.1,
                }
            },
            "grid.enter_service",
            "must be below highVoltage",
        ),
        ({"freq_droop": {"over_freq_hz": 50.2}}, "grid.freq_droop.under_freq_hz", "missing"),
        ({"droop_reference": "bogus"}, "grid.droop_reference", "one of"),
    ],
)
def test_errors_name_the_key(table: dict[str, Any], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_grid_settings(Table(table, "grid"), CONFIG_DIR)
    assert e.value.key == key
    assert reason in str(e.value)


def test_bad_value_inside_a_preset_names_the_preset_file(tmp_path: Path) -> None:
    (tmp_path / "codes").mkdir()
    (tmp_path / "codes" / "broken.toml").write_text("[trip]\nlf_must_trip = [[0.1, 51.0]]\n")
    with pytest.raises(ConfigError) as e:
        parse_grid_settings(Table({"preset": "codes/broken.toml"}, "grid"), tmp_path)
    assert e.value.key.endswith("broken.toml: grid.trip.lf_must_trip")
    assert "LFMustTrip" in e.value.reason


def test_preset_by_name_ships_with_the_package(tmp_path: Path) -> None:
    """A board's /etc/evse holds only station.toml: the name still finds the preset."""
    s = parse_grid_settings(Table({"preset": "vde-ar-n-4105"}, "grid"), tmp_path)
    assert s.preset == "vde-ar-n-4105" and "4105" in s.source


def test_unknown_preset_names_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        parse_grid_settings(Table({"preset": "vde-4105"}, "grid"), tmp_path)
    assert e.value.key == "grid.preset"
    assert "en50549-1" in e.value.reason and "vde-ar-n-4105" in e.value.reason


def test_preset_given_as_a_path_is_read_from_there(tmp_path: Path) -> None:
    own = tmp_path / "site" / "dso.toml"
    own.parent.mkdir()
    own.write_text('source = "our DSO"\n')
    s = parse_grid_settings(Table({"preset": "site/dso.toml"}, "grid"), tmp_path)
    assert s.source == "our DSO"
