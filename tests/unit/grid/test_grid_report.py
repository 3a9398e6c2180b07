"""`evse grid report`: what a commissioning engineer checks against the connection
agreement, from the same settings hal runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from gridtest_helpers import settings

from hal.devices.base import PowerStageRating
from hal.grid.controls import TripControl
from hal.grid.report import report_lines
from hal.grid.settings import shipped_presets

RATING = PowerStageRating(11000.0, 7000.0, 3000.0, 3)
CONFIG = Path(__file__).resolve().parents[3] / "config" / "sim.toml"


def _evse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evse.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("preset", shipped_presets())
def test_report_lists_every_trip_stage_in_volts_and_hertz(preset: str) -> None:
    s = settings(preset)
    text = "\n".join(report_lines(s, RATING))
    for ct, spec in s.controls.items():
        if isinstance(spec, TripControl):
            for st in spec.curve.stages:
                if ct[1] == "V":
                    volts = st.threshold / 100.0 * s.nominal_voltage_v
                    assert f"{st.threshold:g} % ({volts:.1f} V)" in text, (ct, st)
                else:
                    assert f"f {'>' if ct[0] == 'H' else '<'} {st.threshold:g} Hz" in text
                assert f"for {st.clearing_s:g} s" in text
    assert "Enter service" in text and "Frequency droop" in text


def test_report_droop_table_uses_the_discharge_nameplate() -> None:
    # IEEE 1547 6.5.2.7: 5 % droop from 60.036 Hz; at 62.036 Hz, 2/3 p.u. of 7000 W.
    text = "\n".join(report_lines(settings("ieee1547-cat2"), RATING))
    assert "P_rated = 7000 W" in text
    assert "62.036      +4667" in text


def test_report_cli_writes_a_png_that_reads_back(tmp_path: Path) -> None:
    png = tmp_path / "cat3.png"
    res = _evse("grid", "report", "--preset", "ieee1547-cat3", "--png", str(png))
    assert res.returncode == 0, res.stderr
    assert "HVMomCess" in res.stdout and "ceases" in res.stdout
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.shape[0] > 400 and img.shape[1] > 600
    assert float(img.std()) > 0.05  # curves drawn, not a blank canvas


def test_report_cli_from_a_station_config_uses_its_overrides_and_ratings() -> None:
    res = _evse("grid", "report", "--config", str(CONFIG))
    assert res.returncode == 0, res.stderr
    assert "preset vde-ar-n-4105" in res.stdout
    assert "held 1 s" in res.stdout  # config/sim.toml overrides the 60 s observation time


def test_report_cli_unknown_preset_exits_2_naming_the_shipped_ones() -> None:
    res = _evse("grid", "report", "--preset", "nope")
    assert res.returncode == 2
    assert "ieee1547-cat2" in res.stderr
