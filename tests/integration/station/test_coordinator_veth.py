"""`evse run` in the EVSE host's namespace with `[slac]` on a raw socket: hal (simulated
hardware) puts the pilot in B with 5 %, the coordinator starts SLAC, our EV side matches
over veth through the simulated modems (ISO 15118-3), the data link comes up, and only
then the SECC starts and serves a scripted -20 car on the hosts' second veth pair.

    [ns evse: evse run] e0 <-veth-> [ns plc: modems] <-veth-> v0 [ns ev: EV SLAC, car]
                        s0 <---------------- veth ----------------> c0
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import HalProcess, sim_config
from tests.integration.slac.slac_veth import WAIT_S, Plc, read_events

CLIENT = Path(__file__).parents[1] / "iso15118" / "secc_client.py"


def _wait_log(log: Path, text: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        got = log.read_text()
        if text in got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never logged:\n{log.read_text()}")


def test_iso15118_3_evse_run_matches_our_ev_over_veth_then_the_secc_serves(
    plc: Plc, short_tmp: Path
) -> None:
    secc_if, car_if = plc.secc_if, plc.car_if
    cfg = sim_config(short_tmp)
    cfg.write_text(cfg.read_text() + (
        f'pwm_duty_pct = 5.0\n\n[slac]\ninterface = "{plc.evse_if}"\n\n'
        f'[[iso15118]]\nevse = 1\ninterface = "{secc_if}"\nevseid = "DE*ABC*E1"\n'
    ))
    log = short_tmp / "evse.log"
    hal = HalProcess(cfg).start()
    evse = subprocess.Popen(
        ["ip", "netns", "exec", plc.evse_ns, sys.executable, "-m", "evse.cli", "run",
         "--config", str(cfg)],
        stdout=subprocess.DEVNULL, stderr=log.open("ab"),
    )
    try:
        _wait_log(log, "SLAC matching starts")  # hal's pilot B with 5 % reached us
        assert "SECC" not in log.read_text()  # no data link yet: no SECC
        ev = plc.evse_cli("match", plc.ev_if, "--ev", "--timeout", str(WAIT_S), ns=plc.ev_ns)
        assert [e["event"] for e in read_events(plc, ev, {"LinkUp", "MatchFailed"})] == [
            "Matched", "LinkUp"]
        _wait_log(log, "SLAC LinkUp")
        res = subprocess.run(
            ["ip", "netns", "exec", plc.ev_ns, sys.executable, str(CLIENT), car_if, "tcp"],
            capture_output=True, timeout=WAIT_S * 3,
        )
        text = log.read_text()
        assert res.returncode == 0, res.stderr.decode() + text
        got = [json.loads(x).get("response") for x in res.stdout.decode().splitlines()]
        assert "SessionSetupRes" in got and got[-1] == "SessionStopRes", text
        assert evse.poll() is None
    finally:
        evse.send_signal(signal.SIGTERM)
        try:
            evse.wait(WAIT_S)
        finally:
            if evse.poll() is None:
                evse.kill()
            hal.stop(signal.SIGKILL)
