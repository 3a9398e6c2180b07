"""`evse sim` flags around the scenarios (issue 16): --list names every scenario with its
one-line description; --speed beyond what a scenario allows is refused with the reason
before anything starts; a scenario file with a mistake is refused naming the key;
--stations N runs N simulated stations in one process (evse/sim/stations.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from evse.sim.scenario import model
from tests.conftest import ROOT


def evse_sim(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evse.cli", "sim", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_list_names_every_scenario_with_its_description() -> None:
    res = evse_sim("--list")
    assert res.returncode == 0, res.stderr
    for name, desc in model.listing():
        assert any(line.startswith(name) and desc in line for line in res.stdout.splitlines())


def test_speed_beyond_the_scenario_is_refused_with_the_reason(tmp_path: Path) -> None:
    res = evse_sim("--scenario", "grid_trip", "--speed", "10", "--run-dir", str(tmp_path))
    assert res.returncode == 2
    assert "runs at most at --speed 1" in res.stderr and "real" in res.stderr
    assert not (tmp_path / "trace.jsonl").exists(), "refused before anything started"


def test_a_scenario_with_a_mistake_is_refused_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('description = "x"\nduration_s = 5.0\n[[step]]\nat_s = 1.0\ndo = "grid"\n'
                   "hz = 50.5\n")
    res = evse_sim("--scenario", str(bad), "--run-dir", str(tmp_path / "run"))
    assert res.returncode == 2
    assert "step[0]: 'hz': unknown key" in res.stderr


def test_stations_flag_runs_a_fleet_of_distinct_stations(tmp_path: Path) -> None:
    res = evse_sim("--stations", "2", "--duration", "12", "--run-dir", str(tmp_path),
                   timeout=180.0)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "2 booted" in res.stdout and "0 failed" in res.stdout


def test_csms_flag_connects_the_station_to_an_external_csms(tmp_path: Path) -> None:
    """--csms URL: the station talks to that CSMS (a CSMS team's own; here `evse csms`,
    which prints every frame); the scenario's OCPP checks cannot be judged from here and
    say so, the others still are."""
    port = "19787"
    csms = subprocess.Popen(
        [sys.executable, "-m", "evse.cli", "csms", "--port", port, "--duration", "240"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert csms.stdout is not None
        assert "listening" in csms.stdout.readline()  # bound before the station starts
        res = evse_sim("--scenario", "basic_charging", "--csms",
                       f"ws://127.0.0.1:{port}/ocpp", "--run-dir", str(tmp_path),
                       "--no-plot", timeout=240.0)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        assert "skip" in res.stdout and "not judged: the CSMS is external" in res.stdout
    finally:
        csms.terminate()
        seen, _ = csms.communicate(timeout=30)
    assert '"BootNotification"' in seen and '"TransactionEvent"' in seen
    assert '"station": "SIM001"' in seen
