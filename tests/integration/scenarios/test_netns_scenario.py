"""`evse sim --scenario NAME --netns` (issue 16): the same scenario over real veth pairs
and network namespaces. The station (hal + `evse run`) stays in our namespace with SLAC on
a raw socket (ISO 15118-3) toward its simulated modem and SDP on IPv6 link-local
(ISO 15118-20 / -2 clause 7.10: ff02::1, port 15118); our car runs as its own process in
the car's namespace. The scenario's checks pass, the trace shows SLAC and -20 messages,
and the namespaces, links and the car's process are gone on every way out."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from evse.sim.netns import why_not_available
from evse.sim.scenario import model
from tests.conftest import ROOT

needs_root = pytest.mark.skipif(why_not_available() is not None,
                                reason=str(why_not_available()))

RUN_LIMIT_S = 600  # a bound for a hung run, not a timing
WAIT_S = 120.0


def _argv(name: str, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "evse.cli", "sim", "--scenario", name, "--netns",
            "--run-dir", str(run_dir), "--no-plot"]


def _made(stdout: str, run_dir: Path) -> tuple[str, list[str]]:
    """The car's namespace (from the run's own line) and the station's two interfaces."""
    m = re.search(r"the car in (n[0-9a-f]{6}_ev)", stdout)
    assert m, stdout[-3000:]
    cfg = tomllib.loads((run_dir / "station.toml").read_text())
    return m.group(1), [cfg["slac"]["interface"], cfg["iso15118"][0]["interface"]]


def _left(netns: str, ifaces: list[str], run_dir: Path) -> list[str]:
    """What of this run is still there: its namespaces, links, the car's process and the
    station's (hal and `evse run` on the run's config)."""
    prefix = netns.removesuffix("_ev")
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return ([n for n in spaces.split() if n.startswith(prefix)]
            + [i for i in ifaces if re.search(rf" {i}[@:]", links)]
            + [p for p in procs.splitlines()
               if ("car_process" in p and prefix in p) or str(run_dir) in p])


@needs_root
def test_unplugged_scenario_over_netns_iso15118_3_slac_raw_socket_and_20_link_local(
        tmp_path: Path) -> None:
    res = subprocess.run(_argv("unplugged", tmp_path), cwd=ROOT, capture_output=True,
                         text=True, timeout=RUN_LIMIT_S)
    assert res.returncode == 0, f"{res.stdout[-6000:]}\n{res.stderr[-3000:]}"
    sc = model.load("unplugged")
    assert f"{len(sc.checks)} of {len(sc.checks)} checks passed" in res.stdout
    netns, ifaces = _made(res.stdout, tmp_path)
    # The station's config: a raw-socket SLAC interface and a real link-local one.
    assert not ifaces[0].startswith("unix:") and ifaces[1] != "lo"
    records = [json.loads(line) for line in (tmp_path / "trace.jsonl").open()]
    slac = [r["event"] for r in records if r["src"] == "slac"]
    v2g = {r["msg"] for r in records if r["src"] == "iso15118"}
    assert "LinkUp" in slac
    assert {"SessionSetupReq", "SessionSetupRes", "DC_ChargeLoopReq",
            "DC_ChargeLoopRes"} <= v2g
    assert not _left(netns, ifaces, tmp_path)


@needs_root
def test_sigterm_mid_session_stops_everything_and_removes_the_namespaces(
        tmp_path: Path) -> None:
    proc = subprocess.Popen(_argv("unplugged", tmp_path), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:  # until the -20 session runs over the veth
            line = proc.stdout.readline()
            seen.append(line)
            if "car: charging" in line or not line:
                break
        assert any("car: charging" in line for line in seen), "".join(seen)[-4000:]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(seen) + out
    assert proc.returncode == 1, text[-4000:]  # stopped: the run is not a pass
    assert "stopped (SIGTERM)" in text
    netns, ifaces = _made(text, tmp_path)
    assert not _left(netns, ifaces, tmp_path), text[-3000:]
    for log in ("hal.log", "evse.log"):  # the station's children went with the run
        assert (tmp_path / log).exists()


@needs_root
def test_netns_with_a_car_without_slac_is_refused_before_anything_starts(
        tmp_path: Path) -> None:
    res = subprocess.run(_argv("grid_trip", tmp_path), cwd=ROOT, capture_output=True,
                         text=True, timeout=RUN_LIMIT_S)
    assert res.returncode == 2
    assert "--netns" in res.stderr and "simcar" in res.stderr
    assert not (tmp_path / "trace.jsonl").exists()


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                    reason="as root, setpriv (util-linux) is needed to run it unprivileged")
def test_netns_without_root_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] \
        if os.geteuid() == 0 else []
    res = subprocess.run([*drop, *_argv("unplugged", tmp_path / "run")], cwd=ROOT,
                         capture_output=True, text=True, timeout=RUN_LIMIT_S)
    assert res.returncode == 2
    assert "--netns needs root" in res.stderr
    assert not (tmp_path / "run").exists()
