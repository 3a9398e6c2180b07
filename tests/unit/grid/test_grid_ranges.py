"""Grid-code ranges: a framework code (EN 50549-1) gives ranges, the operator picks values;
a value outside the code's range is refused at start with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
from gridtest_helpers import settings

from hal.config_reader import ConfigError
from hal.grid.freq_droop import FreqDroopSpec
from hal.grid.settings import shipped_presets


@pytest.mark.parametrize("preset", shipped_presets())
def test_every_shipped_preset_is_inside_its_own_ranges(preset: str) -> None:
    s = settings(preset)  # check_ranges runs on load
    assert s.preset == preset


def test_en50549_1_names_the_national_profiles_it_defers_to() -> None:
    s = settings("en50549-1")
    assert any(p.startswith("DE: VDE-AR-N 4105") for p in s.national_profiles)
    assert "ranges" in s.confirm_locally


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"freq_droop": {"over_droop": 0.15}}, "grid.freq_droop.over_droop"),  # 4.6.1: 2-12 %
        ({"freq_droop": {"over_freq_hz": 50.1}}, "grid.freq_droop.over_freq_hz"),  # >= 50.2
        ({"enter_service": {"delay_s": 5.0}}, "grid.enter_service.delay_s"),  # 4.10: 10-600 s
        ({"trip": {"lv_must_trip": [[200.0, 45.0]]}}, "grid.trip.lv_must_trip"),  # <= 100 s
        ({"trip": {"hv_must_trip": [[0.1, 135.0]]}}, "grid.trip.hv_must_trip"),  # U>> <= 1.30
        ({"mean_overvoltage": {"threshold_pct": 120.0}}, "grid.mean_overvoltage.threshold_pct"),
    ],
)
def test_en50549_1_override_outside_the_standard_range_is_refused_naming_the_key(
    override: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        settings("en50549-1", override)
    assert exc.value.key == key
    assert "EN 50549-1" in str(exc.value)


def test_en50549_1_override_inside_the_range_is_taken() -> None:
    s = settings(
        "en50549-1",
        {
            "freq_droop": {"over_droop": 0.12},
            "trip": {"hv_must_trip": [[0.1, 125.0], [0.2, 115.0]]},
        },
    )
    fd = s.controls["FreqDroop"]
    assert isinstance(fd, FreqDroopSpec) and fd.over_droop == 0.12


def test_a_disabled_function_is_not_range_checked() -> None:
    s = settings("en50549-1", {"freq_droop": {"enabled": False, "over_droop": 0.5}})
    assert "FreqDroop" not in s.controls


def test_station_config_cannot_widen_the_ranges() -> None:
    with pytest.raises(ConfigError) as exc:
        settings("en50549-1", {"ranges": {"freq_droop.over_droop": [0.0, 1.0]}})
    assert exc.value.key == "grid.ranges"


def test_evse_config_check_refuses_an_out_of_range_override(tmp_path: Path) -> None:
    """The sim config's 1 s enter-service delay is fine under VDE-AR-N 4105's preset but
    outside EN 50549-1's 10-600 s: `evse config check` exits 2 naming the key."""
    import subprocess
    import sys

    base = (Path(__file__).resolve().parents[3] / "config" / "sim.toml").read_text()
    assert 'preset = "vde-ar-n-4105"' in base and "delay_s = 1.0" in base
    cfg = tmp_path / "station.toml"
    cfg.write_text(base.replace('preset = "vde-ar-n-4105"', 'preset = "en50549-1"', 1))
    res = subprocess.run(
        [sys.executable, "-m", "evse.cli", "config", "check", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "grid.enter_service.delay_s" in res.stderr and "EN 50549-1" in res.stderr
