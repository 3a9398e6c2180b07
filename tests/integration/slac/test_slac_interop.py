"""Interop with independent SLAC peers over veth (ISO 15118-3): open-plc-utils' `evse`
and `pev` programs (Debian plc-utils-extra) and pyslac as an EVSE, each behind the same
simulated modems as ours."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from slac_veth import WAIT_S, Plc, read_events, read_line

HERE = Path(__file__).parent
# Settle and charge times 0: the simulated modem applies a key at once (a real modem
# needs seconds, which is why these programs wait 10 s by default).
PROFILE = "[default]\nsettle time = 0\ncharge time = 0\n"


def _plc_utils(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"`{program}` from Debian plc-utils-extra is not installed (.ci/run "
                    "installs it)")
    return path


def test_iso15118_3_open_plc_utils_evse_matches_our_ev(plc: Plc, tmp_path: Path) -> None:
    evse_bin = _plc_utils("evse")
    profile = tmp_path / "evse.ini"
    profile.write_text(PROFILE)
    # -l: one matching, then exit.
    peer = plc.start(plc.evse_ns, evse_bin, "-i", plc.evse_if, "-p", str(profile), "-l")
    ev = plc.evse_cli("match", plc.ev_if, "--ev", "--timeout", str(WAIT_S), ns=plc.ev_ns)
    events = read_events(plc, ev, {"LinkUp", "MatchFailed"})
    assert [e["event"] for e in events] == ["Matched", "LinkUp"]
    # open-plc-utils' EVSE hands out the NID of its configured key (HomePlugAV0123).
    assert events[0]["nid"] == "026bcba5354e08"
    assert peer.wait(timeout=WAIT_S) == 0


def test_iso15118_3_open_plc_utils_pev_matches_our_evse(plc: Plc, tmp_path: Path) -> None:
    pev_bin = _plc_utils("pev")
    profile = tmp_path / "pev.ini"
    # pev "charges" for `charge time`, then leaves our network with a random key; with 0 s
    # it leaves before our link-status poll can see it joined (a race under load).
    profile.write_text("[default]\nsettle time = 0\ncharge time = 5\n")
    evse = plc.evse_cli("match", plc.evse_if, "--timeout", str(WAIT_S))
    # Without -l, pev makes one matching, sets our NMK on its modem, then exits.
    peer = plc.start(plc.ev_ns, pev_bin, "-i", plc.ev_if, "-p", str(profile))
    events = read_events(plc, evse, {"LinkUp", "MatchFailed"})
    assert [e["event"] for e in events] == ["Matched", "LinkUp"], events
    assert peer.wait(timeout=WAIT_S) == 0
    assert evse.wait(timeout=WAIT_S) == 0


def test_iso15118_3_pyslac_evse_matches_our_ev(plc: Plc) -> None:
    pytest.importorskip("pyslac", reason="pyslac is in the dev extra (pyproject.toml)")
    peer = plc.start(plc.evse_ns, sys.executable, str(HERE / "pyslac_evse.py"), plc.evse_if, "1")
    # pyslac sleeps 10 s after CM_SET_KEY before it listens.
    assert read_line(plc, peer).strip() == "ready", peer.stderr.read() if peer.stderr else ""
    ev = plc.evse_cli("match", plc.ev_if, "--ev", "--timeout", str(WAIT_S), ns=plc.ev_ns)
    events = read_events(plc, ev, {"LinkUp", "MatchFailed"})
    assert [e["event"] for e in events] == ["Matched", "LinkUp"]
    assert read_line(plc, peer).strip() == '{"state": "matched"}'
    assert peer.wait(timeout=WAIT_S) == 0
