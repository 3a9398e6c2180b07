"""The pilot / session coordinator against a real hal process on simulated hardware:

- `evse run` with `[slac]` on the in-memory powerline and our EV's SLAC side: plug-in
  (pilot B, 5 %) -> SLAC match -> data link up -> the SECC starts, and a scripted -20 car
  in its own network namespace runs a session through it over a veth pair;
- no EV answering SLAC on an AC EVSE: after TT_EVSE_SLAC_init the coordinator falls back
  to IEC 61851-1 basic charging: the Annex A duty for the requested current goes to hal,
  the sim EV goes to C, the contactor closes and power flows through hal.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evse.config import load_station
from evse.controller import Controller
from tests.conftest import HalProcess, sim_config
from tests.integration.iso15118.secc_net import WAIT_S, can_make_netns, veth_pair

CLIENT = Path(__file__).parents[1] / "iso15118" / "secc_client.py"
LIMIT_S = 90.0  # generous: TT_EVSE_SLAC_init (20 s here) plus a slow shared machine


def _config(d: Path, extra: str, kind: str = "dc") -> Path:
    path = sim_config(d, request_w=6900.0)  # 10 A per phase at 230 V x 3
    text = path.read_text().replace('kind = "dc"', f'kind = "{kind}"')
    path.write_text(text + "pwm_duty_pct = 5.0\n\n" + extra)
    return path


@pytest.mark.skipif(can_make_netns() is not None, reason=str(can_make_netns()))
def test_iso15118_3_plug_in_slac_match_then_the_secc_serves_the_car(short_tmp: Path) -> None:
    with veth_pair("c") as net:
        cfg = _config(short_tmp, (
            '[slac]\ninterface = "sim"\nsim_ev = true\n\n'
            f'[[iso15118]]\nevse = 1\ninterface = "{net.secc_if}"\nevseid = "DE*ABC*E1"\n'
        ))
        hal = HalProcess(cfg).start()
        evse = subprocess.Popen(
            [sys.executable, "-m", "evse.cli", "run", "--config", str(cfg)],
            env=dict(os.environ), stdout=subprocess.DEVNULL,
            stderr=(short_tmp / "evse.log").open("ab"),
        )
        try:
            args = [sys.executable, str(CLIENT), net.ev_if, "tcp"]
            # SDP retries until the coordinator has matched over SLAC and started the SECC
            res = subprocess.run(["ip", "netns", "exec", net.netns, *args],
                                 capture_output=True, timeout=WAIT_S * 3)
            log = (short_tmp / "evse.log").read_text()
            assert res.returncode == 0, res.stderr.decode() + log
            lines = [json.loads(x) for x in res.stdout.decode().splitlines()]
            got = [x["response"] for x in lines if "response" in x]
            assert got[:2] == ["supportedAppProtocolRes", "SessionSetupRes"], log
            assert got[-1] == "SessionStopRes", log
            assert "SLAC LinkUp" in log  # the SECC started after the data link came up
            assert evse.poll() is None
        finally:
            evse.send_signal(signal.SIGTERM)
            try:
                evse.wait(WAIT_S)
            finally:
                if evse.poll() is None:
                    evse.kill()
                hal.stop(signal.SIGKILL)


async def _until(pred: object, seconds: float = LIMIT_S) -> None:
    async with asyncio.timeout(seconds):
        while not pred():  # type: ignore[operator]  # noqa: ASYNC110 - polls hal's reports
            await asyncio.sleep(0.05)


def test_no_slac_answer_falls_back_to_basic_charging_iec61851_1_annex_a(
    short_tmp: Path,
) -> None:
    cfg = load_station(_config(short_tmp, (
        '[slac]\ninterface = "sim"\nretries = 0\ninit_timeout_s = 20.0\n'
        "match_timeout_s = 20.0\nbasic_fallback = true\n"
    ), kind="ac"))
    hal = HalProcess(cfg.path).start()

    async def scenario() -> None:
        ctrl = Controller(cfg)
        stop = asyncio.Event()
        run = asyncio.create_task(ctrl.run(stop))
        try:
            await _until(lambda: 1 in ctrl.evses and ctrl.evses[1].measurement is not None)
            view = ctrl.evses[1]
            assert view.duty_pct in (None, 5.0) and view.session in (None, "none")
            m = view.measurement
            assert m is not None and not m.contactor_closed  # 5 %, no SLAC yet: no power
            await _until(lambda: view.session == "basic")
            assert view.duty_pct == 16.67  # 10 A: IEC 61851-1 Annex A, 10 / 0.6
            await _until(lambda: view.measurement is not None and view.measurement.cp_state
                         in ("C", "D") and view.measurement.contactor_closed
                         and view.measurement.active_w > 1000.0)
        finally:
            stop.set()
            await run

    try:
        asyncio.run(scenario())
    finally:
        hal.stop(signal.SIGKILL)
