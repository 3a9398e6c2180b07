"""Our EV (evse/sim/ev) against Josev's SECC over veth: the independent check of our EV.

Josev's SECC offers AC and AC_BPT under the -20 AC namespace, DC and DC_BPT under DC, each
with Scheduled and Dynamic parameter sets: every combination is run. Its Java EXI codec
takes 100-400 ms a message here, so our EV's message timeouts are scaled for this peer
(the timing of our EV is not what these tests check). Josev's simulated DC stage reports
1 V whatever the EV asks in PreCharge (it does not model precharge), so our EV's precharge
tolerance is opened for it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from josev_harness import Link, Peer, start_secc

SERVICES = ("AC", "AC_BPT", "DC", "DC_BPT")
MODES = ("Scheduled", "Dynamic")


def run_our_ev(link: Link, cwd: Path, config: dict[str, Any]) -> dict[str, Any]:
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "ev.json").write_text(json.dumps(config))
    ev = Peer(link.ev_ns, [sys.executable, "-m", "evse.sim.ev", "--iface", link.ev_if,
                           "--config", str(cwd / "ev.json")], cwd, "our-ev")
    try:
        ev.wait_exit(limit_s=120)
    finally:
        ev.stop()
    lines = [line for line in ev.log().splitlines() if line.startswith("{")]
    assert lines, f"our EV printed no result:\n{ev.tail()}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def ev_config(service: str, mode: str, **extra: Any) -> dict[str, Any]:
    return {"service": service, "control_mode": mode, "timeout_scale": 10.0,
            "loop_interval_s": 0.1, "precharge_tolerance_v": 1000.0, **extra}


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("service", SERVICES)
def test_our_ev_charges_through_josev_secc(link: Link, tmp_path: Path, service: str,
                                           mode: str) -> None:
    secc = start_secc(link, tmp_path / "secc")
    try:
        result = run_our_ev(link, tmp_path / "ev", ev_config(service, mode, stop_at_s=None,
                                                                 departure_s=10))
    finally:
        secc.stop()
    print(json.dumps({k: v for k, v in result.items() if k != "loops"}))
    assert result["outcome"] == "terminated", result["reason"]
    assert result["sent"][-1] == "SessionStopReq"
    assert "Traceback" not in secc.log()
