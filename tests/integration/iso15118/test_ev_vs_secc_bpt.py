"""Discharge (BPT) through `evse run`: our EV against our SECC over veth with hal on
simulated hardware and a scripted CSMS whose AuthorizeResponse allows V2X for the
transaction (OCPP 2.1 Q01 allowedEnergyTransfer; without a CSMS the station is free vend
and charges only, so BPT is not offered). The station's request is a 5 kW discharge.
Each run ends with SessionStop and no traceback; energy flows out of the car and hal's
export register agrees with what the EV integrated (same tolerance as
test_ev_vs_secc.py). With AC_BPT Dynamic an over-frequency step in the simulated grid
(VDE-AR-N 4105 LFSM-O: 12 % less discharge at 50.5 Hz) reaches the EV as a reduced
EVSETargetActivePower in a later ChargeLoopRes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from secc_net import WAIT_S, can_make_netns, make_pki, veth_pair
from test_ev_vs_secc import DC_SIM, TOLERANCE_REL, TOLERANCE_WH, observer

from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from tests.conftest import Client, HalProcess, sim_config

pytestmark = pytest.mark.skipif(can_make_netns() is not None, reason=str(can_make_netns()))

PASSWORD = "0123456789abcdef"
DISCHARGE_W = -5000.0
GRID_CODE = """preset = "vde-ar-n-4105"
[grid.enter_service]
delay_s = 1.0
ramp_s = 1.0
"""
STEP_AT_S = 12.0  # s after hal's start: 50.5 Hz (LFSM-O from 50.2 Hz)
STEP = f'[[sim.grid.events]]\nkind = "step"\nat_s = {STEP_AT_S}\nfrequency_hz = 50.5\n'


def station_config(d: Path, kind: str, iface: str, tls: bool, port: int, step: bool) -> Path:
    path = sim_config(d, request_w=DISCHARGE_W, grid_events=STEP if step else "")
    text = path.read_text().replace('kind = "dc"', f'kind = "{kind}"', 1)
    text = text.replace("nominal_frequency_hz = 50.0\n",
                        "nominal_frequency_hz = 50.0\n" + GRID_CODE, 1)
    text += f'pwm_duty_pct = 5.0\nid_token = "CARD0001"\nstate_dir = "{d}/evse"\n'
    text += (f'\n[ocpp]\ncsms_url = "ws://127.0.0.1:{port}/ocpp"\nstation_id = "CS001"\n'
             f'basic_auth_password = "{PASSWORD}"\n'
             # Q01 is per transaction: it must exist before ServiceDiscovery (the default,
             # PowerPathClosed, starts it only after PowerDelivery: BPT never offered)
             '[ocpp.variables]\n"TxCtrlr.TxStartPoint" = "Authorized"\n')
    if kind == "dc":
        text += DC_SIM
    text += f'\n[[iso15118]]\nevse = 1\ninterface = "{iface}"\nevseid = "DE*ABC*E1"\n'
    text += f'tls = "{"required" if tls else "none"}"\n'
    if tls:
        text += f'cert_chain = "{d}/secc_chain.pem"\nprivate_key = "{d}/secc_key.pem"\n'
        text += f'oem_roots = "{d}/oem_root.pem"\n'
    path.write_text(text)
    return path


def settled_export_wh(c: Client) -> float:
    prev: float | None = None
    same = 0
    while same < 30:  # reports 50 ms apart: longer than the 1 s meter period
        m = c.wait_for(p.Measurement, WAIT_S,
                       lambda m: m.energy_valid and abs(m.active_w) < 1.0)
        same = same + 1 if prev is not None and abs(m.export_wh - prev) < 1e-6 else 0
        prev = m.export_wh
    assert prev is not None
    return prev


async def run_ev(netns: str, iface: str, d: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    (d / "ev.json").write_text(json.dumps(cfg))
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", netns, sys.executable, "-m", "evse.sim.ev",
        "--iface", iface, "--config", str(d / "ev.json"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ))
    out, err = await asyncio.wait_for(proc.communicate(), WAIT_S * 4)
    lines = out.decode().strip().splitlines()
    assert lines, err.decode()
    doc: dict[str, Any] = json.loads(lines[-1])
    doc["_stderr"] = err.decode()
    return doc


def session(tmp: Path, service: str, mode: str, tls: bool, step: bool,
            departure_s: int) -> tuple[dict[str, Any], float, str]:
    """One EV session; returns the EV's result, hal's exported Wh and evse's log."""
    kind = service[:2].lower()
    if tls:
        make_pki(tmp)
    allowed = {"idTokenInfo": {"status": "Accepted"}, "allowedEnergyTransfer": [service]}

    async def scenario() -> tuple[dict[str, Any], float, str]:
        answers = {"Authorize": allowed, "NotifyEVChargingNeeds": {"status": "Accepted"}}
        async with ScriptedCsms(answers, passwords={"CS001": PASSWORD}) as csms:
            with veth_pair(f"b{kind[0]}{mode[0]}{int(tls)}{int(step)}") as net:
                cfg = station_config(tmp, kind, net.secc_if, tls, csms.port, step)
                hal = HalProcess(cfg).start()
                log_path = tmp / "evse.log"
                evse = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "evse.cli", "run", "--config", str(cfg),
                    env=dict(os.environ), stderr=log_path.open("ab"))
                try:
                    ev_cfg: dict[str, Any] = {
                        "service": service, "control_mode": mode, "departure_s": departure_s,
                        "loop_interval_s": 0.1, "soc_start": 60.0, "capacity_wh": 60000.0,
                        "script": [{"at_s": 0.0, "power_w": DISCHARGE_W}], "sdp_tries": 200,
                        "timeout_scale": 4.0,
                    }
                    if tls:
                        ev_cfg |= {"tls": True, "tls_ca_file": f"{tmp}/v2g_root.pem",
                                   "tls_cert_file": f"{tmp}/ev_chain.pem",
                                   "tls_key_file": f"{tmp}/ev_key.pem"}
                    result = await run_ev(net.netns, net.ev_if, tmp, ev_cfg)
                    obs = observer(hal)
                    try:
                        exported = await asyncio.to_thread(settled_export_wh, obs)
                    finally:
                        obs.close()
                    log = log_path.read_text()
                    logs = log + result["_stderr"] + hal.log.read_text()
                    assert "Traceback" not in logs, logs[logs.find("Traceback") - 300:]
                    assert evse.returncode is None
                    assert csms.errors_sent == []
                    return result, exported, log
                finally:
                    evse.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(evse.wait(), WAIT_S)
                    except TimeoutError:
                        evse.kill()
                        await evse.wait()
                    hal.stop(signal.SIGKILL)

    return asyncio.run(scenario())


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("mode", ["Scheduled", "Dynamic"])
@pytest.mark.parametrize("service", ["AC_BPT", "DC_BPT"])
def test_Q01_our_ev_discharges_through_evse_run_and_the_meter_agrees(
    short_tmp: Path, service: str, mode: str, tls: bool
) -> None:
    result, meter_wh, log = session(short_tmp, service, mode, tls, step=False, departure_s=5)
    assert result["outcome"] == "terminated", (result["reason"], log)
    assert result["reason"] == "departure time"
    assert result["sent"][-1] == "SessionStopReq"
    assert result["tls_version"] == ("TLSv1.3" if tls else "")
    ev_wh = result["energy_out_wh"]
    print(f"{service} {mode} tls={tls}: EV out {ev_wh:.2f} Wh, meter export {meter_wh:.2f} Wh")
    assert result["energy_in_wh"] == 0.0  # energy flows out of the car only
    assert ev_wh > 2.0
    assert abs(meter_wh - ev_wh) <= TOLERANCE_REL * ev_wh + TOLERANCE_WH


def test_frequency_step_reaches_the_evs_next_target_AC_BPT_Dynamic_VDE_AR_N_4105_LFSM_O(
    short_tmp: Path,
) -> None:
    """hal's droop cuts the discharge at 50.5 Hz; the SECC's next targets carry the cut
    (the car's inverter is the grid device: hal's constraint reaches it only this way)."""
    result, _, log = session(short_tmp, "AC_BPT", "Dynamic", False, step=True, departure_s=16)
    assert result["outcome"] == "terminated", (result["reason"], log)
    targets = [r["target_w"] for r in result["loops"] if r["target_w"] is not None]
    before = [t for t in targets if abs(t - DISCHARGE_W) < 50.0]  # the request, before the step
    assert before, result["loops"][::10]
    first = next(i for i, t in enumerate(targets) if abs(t - DISCHARGE_W) < 50.0)
    after = targets[first:]
    # LFSM-O: (50.5 - 50.2) / 50 / 0.05 = 12 % of the power at activation less discharge
    cut = [t for t in after if -0.92 * abs(DISCHARGE_W) < t < -0.80 * abs(DISCHARGE_W)]
    assert cut, targets
