"""Our EV (`python -m evse.sim.ev`, in its own network namespace) against our SECC in
`evse run`, with hal as a process on simulated hardware (`[sim.dc]`: a DC output with the
car's battery behind it), over a veth pair: AC and DC x Scheduled and Dynamic x TLS off
and on. Each run ends with SessionStop, no traceback on either side, energy flows into
the car, and hal's meter agrees with what the EV integrated from the SECC's answers.

Tolerance of the energy check: the EV integrates the present power of each ChargeLoopRes
over the time since the one before (a rectangle per 0.1 s loop), the meter integrates
continuously and also counts the ramp after the last loop (PowerDelivery Stop): 10 % of
the energy plus 0.5 Wh.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from secc_net import WAIT_S, can_make_netns, make_pki, veth_pair

from hal import protocol as p
from tests.conftest import Client, HalProcess, sim_config

pytestmark = pytest.mark.skipif(can_make_netns() is not None, reason=str(can_make_netns()))

REQUEST_W = 7000.0
# The car's pack in hal's simulation and in our EV: the same voltage at the start (357 V),
# so the EV's precharge target is what the output reaches.
DC_SIM = """
[sim.dc]
isolation_check_s = 0.5
precharge_v_per_s = 2000.0
[sim.dc.battery]
capacity_kwh = 60.0
soc_pct = 30.0
v_empty = 330.0
v_full = 420.0
"""
TOLERANCE_REL, TOLERANCE_WH = 0.10, 0.5


def station_config(d: Path, kind: str, iface: str, tls: bool) -> Path:
    path = sim_config(d, request_w=REQUEST_W)
    text = path.read_text().replace('kind = "dc"', f'kind = "{kind}"', 1)
    text += "pwm_duty_pct = 5.0\n"
    if kind == "dc":
        text += DC_SIM
    text += f'\n[[iso15118]]\nevse = 1\ninterface = "{iface}"\nevseid = "DE*ABC*E1"\n'
    text += f'tls = "{"required" if tls else "none"}"\n'
    if tls:
        text += f'cert_chain = "{d}/secc_chain.pem"\nprivate_key = "{d}/secc_key.pem"\n'
        text += f'oem_roots = "{d}/oem_root.pem"\n'
    path.write_text(text)
    return path


def observer(hal: HalProcess) -> Client:
    c = Client(hal.socket, hello=False)
    c.send(p.Hello(p.PROTOCOL_VERSION, "test-observer", p.ROLE_OBSERVER))
    return c


def settled_import_wh(c: Client) -> float:
    """The meter's import once nothing flows and the reading stood longer than one meter
    period (1 s): read after the flow stopped."""
    prev: float | None = None
    same = 0
    while same < 30:  # reports 50 ms apart
        m = c.wait_for(p.Measurement, WAIT_S,
                       lambda m: m.energy_valid and abs(m.active_w) < 1.0)
        same = same + 1 if prev is not None and abs(m.import_wh - prev) < 1e-6 else 0
        prev = m.import_wh
    assert prev is not None
    return prev


def run_ev(netns: str, iface: str, d: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    (d / "ev.json").write_text(json.dumps(cfg))
    res = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "evse.sim.ev",
         "--iface", iface, "--config", str(d / "ev.json")],
        capture_output=True, timeout=WAIT_S * 4, env=dict(os.environ),
    )
    out = res.stdout.decode().strip().splitlines()
    assert out, res.stderr.decode()
    doc: dict[str, Any] = json.loads(out[-1])
    doc["_stderr"] = res.stderr.decode()
    return doc


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("mode", ["Scheduled", "Dynamic"])
@pytest.mark.parametrize("service", ["AC", "DC"])
def test_our_ev_charges_through_evse_run_and_the_meter_agrees(
    short_tmp: Path, service: str, mode: str, tls: bool
) -> None:
    kind = service[:2].lower()
    if tls:
        make_pki(short_tmp)
    tag = f"{kind[0]}{mode[0]}{int(tls)}"
    with veth_pair(tag) as net:
        cfg = station_config(short_tmp, kind, net.secc_if, tls)
        hal = HalProcess(cfg).start()
        evse_log = short_tmp / "evse.log"
        evse = subprocess.Popen(
            [sys.executable, "-m", "evse.cli", "run", "--config", str(cfg)],
            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=evse_log.open("ab"),
        )
        obs = observer(hal)
        try:
            e0 = obs.wait_for(p.Measurement, WAIT_S, lambda m: m.energy_valid).import_wh
            ev_cfg: dict[str, Any] = {
                "service": service, "control_mode": mode, "departure_s": 5,
                "loop_interval_s": 0.1, "soc_start": 30.0, "capacity_wh": 60000.0,
                "script": [{"at_s": 0.0, "power_w": REQUEST_W}], "sdp_tries": 200,
                "dc_max_v": 500.0, "timeout_scale": 4.0,
            }
            if tls:
                ev_cfg |= {"tls": True, "tls_ca_file": f"{short_tmp}/v2g_root.pem",
                           "tls_cert_file": f"{short_tmp}/ev_chain.pem",
                           "tls_key_file": f"{short_tmp}/ev_key.pem"}
            obs.close()  # not read while the EV runs
            result = run_ev(net.netns, net.ev_if, short_tmp, ev_cfg)
            obs = observer(hal)
            e1 = settled_import_wh(obs)
            log = evse_log.read_text()
            assert result["outcome"] == "terminated", (result["reason"], log)
            assert result["reason"] == "departure time"
            assert result["tls_version"] == ("TLSv1.3" if tls else "")
            assert result["sent"][-1] == "SessionStopReq"
            loop = f"{kind.upper()}_ChargeLoopReq"
            assert result["sent"].count(loop) >= 5
            if kind == "dc":  # the DC phases ran against hal's DC output
                for name in ("DC_CableCheckReq", "DC_PreChargeReq", "DC_WeldingDetectionReq"):
                    assert name in result["sent"]
            logs = log + result["_stderr"] + hal.log.read_text()
            assert "Traceback" not in logs, logs[logs.find("Traceback") - 300:]
            assert evse.poll() is None
            ev_wh, meter_wh = result["energy_in_wh"], e1 - e0
            print(f"{service} {mode} tls={tls}: EV {ev_wh:.2f} Wh, meter {meter_wh:.2f} Wh")
            assert result["energy_out_wh"] == 0.0
            assert ev_wh > 2.0  # several seconds at ~7 kW
            assert abs(meter_wh - ev_wh) <= TOLERANCE_REL * ev_wh + TOLERANCE_WH
        finally:
            obs.close()
            evse.send_signal(signal.SIGTERM)
            try:
                evse.wait(WAIT_S)
            finally:
                if evse.poll() is None:
                    evse.kill()
                hal.stop(signal.SIGKILL)
