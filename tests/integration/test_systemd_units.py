"""The systemd units pass `systemd-analyze verify` and rate 3.0 or better in
`systemd-analyze security --offline=yes`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNITS = ["evse-hal.service", "evse.service"]
EVSE_BIN = Path(sys.executable).with_name("evse")


def _analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path is not None, "systemd-analyze is required (.ci/run installs Debian's systemd)"
    return path


def _unit_with_local_binary(unit: str, tmp: Path) -> Path:
    """The unit as shipped, with ExecStart's program pointed at this venv's `evse`
    (verify checks that the program exists; /usr/local/bin/evse is the install path)."""
    text = (ROOT / "systemd" / unit).read_text()
    assert "ExecStart=/usr/local/bin/evse " in text
    out = tmp / unit
    out.write_text(text.replace("/usr/local/bin/evse", str(EVSE_BIN)))
    return out


@pytest.mark.parametrize("unit", UNITS)
def test_unit_verifies(unit: str, tmp_path: Path) -> None:
    res = subprocess.run(
        [_analyze(), "verify", str(_unit_with_local_binary(unit, tmp_path))],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == "", res.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_unit_security_exposure_at_most_3(unit: str) -> None:
    res = subprocess.run(
        [_analyze(), "security", "--offline=yes", str(ROOT / "systemd" / unit)],
        capture_output=True,
        text=True,
    )
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", res.stdout + res.stderr)
    assert m is not None, res.stdout + res.stderr
    assert float(m.group(1)) <= 3.0


@pytest.mark.parametrize("unit", UNITS)
def test_unit_is_notify_with_watchdog_and_dedicated_user(unit: str) -> None:
    text = (ROOT / "systemd" / unit).read_text()
    for line in (
        "Type=notify",
        "Restart=on-failure",
        "User=evse",
        "StateDirectory=",
        "RuntimeDirectory=",
        "ConfigurationDirectory=",
        "NoNewPrivileges=yes",
    ):
        assert line in text, line
    assert re.search(r"^WatchdogSec=\d+", text, re.M)


def test_capabilities_split() -> None:
    hal = (ROOT / "systemd" / "evse-hal.service").read_text()
    evse = (ROOT / "systemd" / "evse.service").read_text()
    assert "SupplementaryGroups=dialout" in hal and "DevicePolicy=closed" in hal
    assert re.search(r"^CapabilityBoundingSet=$", hal, re.M)
    assert "AmbientCapabilities=CAP_NET_RAW" in evse and "AF_PACKET" in evse


def test_hal_may_open_every_serial_device_of_the_example_config() -> None:
    """DevicePolicy=closed: each serial family the example board uses needs its
    DeviceAllow=char-<driver> (a /dev/ttymxc1 MCU port is the i.MX "ttymxc" driver)."""
    hal = (ROOT / "systemd" / "evse-hal.service").read_text()
    allowed = set(re.findall(r"^DeviceAllow=char-(\S+) rw$", hal, re.M))
    example = (ROOT / "config" / "station.example.toml").read_text()
    families = {m.group(1) for m in re.finditer(r'"/dev/(tty[A-Za-z]+)\d+"', example)}
    assert "ttymxc" in families and families <= allowed, families - allowed


def test_make_wheel_is_quiet_and_ships_the_grid_presets(tmp_path: Path) -> None:
    """What a board installs: built without warnings (an SPDX license string, not the
    deprecated table), the grid-code presets inside so `preset = "..."` finds them."""
    res = subprocess.run(
        ["make", "-s", "wheel", f"DIST={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout + res.stderr == ""
    (wheel,) = tmp_path.glob("evse_stack-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for preset in ("vde-ar-n-4105", "en50549-1", "ieee1547-cat2"):
        assert f"hal/grid/presets/{preset}.toml" in names
