"""The whole station: hal and `evse run` as real processes, OCPP toward a scripted CSMS
on loopback. Plug-in with an id token -> authorized -> TransactionEvent Started with the
meter values hal measures -> energy flows -> the CSMS stops it -> power to zero, Ended."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from tests.conftest import WAIT_S, Client, HalProcess, sim_config

PASSWORD = "0123456789abcdef"


def _energy(event: dict[str, Any]) -> float | None:
    for mv in event.get("meterValue", []):
        for sv in mv["sampledValue"]:
            if sv.get("measurand", "Energy.Active.Import.Register") == (
                "Energy.Active.Import.Register"
            ):
                return float(sv["value"])
    return None


def test_plug_authorize_charge_remote_stop_then_f05_unlock(short_tmp: Path) -> None:
    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            cfg = sim_config(short_tmp)
            cfg.write_text(
                cfg.read_text()
                + f'id_token = "CARD0001"\nstate_dir = "{short_tmp}/evse"\n\n'
                + f'[ocpp]\ncsms_url = "ws://127.0.0.1:{csms.port}/ocpp"\n'
                + f'station_id = "CS001"\nbasic_auth_password = "{PASSWORD}"\n'
                + '[ocpp.variables]\n"SampledDataCtrlr.TxUpdatedInterval" = 1\n'
                # a first connect that fails on a loaded machine retries at once, not
                # after the default back-off (which could outlast any wait here)
                + '"OCPPCommCtrlr.RetryBackOffWaitMinimum" = 0\n'
                + '"OCPPCommCtrlr.RetryBackOffRandomRange" = 0\n'
            )
            hal = HalProcess(cfg).start()
            evse = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "evse.cli",
                "run",
                "--config",
                str(cfg),
                "--power-w",
                "6000",
                env=dict(os.environ),
                stderr=(short_tmp / "evse.log").open("wb"),
            )
            obs = Client(hal.socket, role=p.ROLE_OBSERVER)
            try:
                try:
                    await csms.wait_until(lambda: bool(csms.of("BootNotification")), WAIT_S)
                except TimeoutError:
                    log = (short_tmp / "evse.log").read_text()
                    raise AssertionError(f"no BootNotification; evse said:\n{log}") from None
                await csms.wait_until(
                    lambda: any(e["eventType"] == "Started" for e in csms.of("TransactionEvent")),
                    WAIT_S,
                )
                started = next(
                    e for e in csms.of("TransactionEvent") if e["eventType"] == "Started"
                )
                assert started["idToken"]["idToken"] == "CARD0001"
                tx_id = started["transactionInfo"]["transactionId"]
                # energy flows at the requested power, measured by hal
                m = await asyncio.to_thread(
                    obs.wait_for, p.Measurement, WAIT_S, lambda m: abs(m.active_w - 6000.0) < 100
                )
                assert m.contactor_closed
                # meter values in OCPP come from hal: the register grows while charging
                await csms.wait_until(
                    lambda: any(
                        (_energy(e) or 0.0) > 0.0
                        for e in csms.of("TransactionEvent")
                        if e["eventType"] == "Updated"
                    ),
                    WAIT_S,
                )
                res = await csms.call("RequestStopTransaction", {"transactionId": tx_id})
                assert res["status"] == "Accepted"
                await csms.wait_until(
                    lambda: any(e["eventType"] == "Ended" for e in csms.of("TransactionEvent")),
                    WAIT_S,
                )
                m = await asyncio.to_thread(
                    obs.wait_for,
                    p.Measurement,
                    WAIT_S,
                    lambda m: not m.contactor_closed and abs(m.active_w) < 50.0,
                )
                ended = next(e for e in csms.of("TransactionEvent") if e["eventType"] == "Ended")
                assert ended["transactionInfo"]["transactionId"] == tx_id
                assert ended["triggerReason"] == "RemoteStop"
                seq = [e["seqNo"] for e in csms.of("TransactionEvent")]
                assert seq == list(range(len(seq)))
                # F05.FR.02: no transaction any more, so the connector unlocks, through
                # hal's connector_lock to the MCU, which confirms the actuator
                res = await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
                assert res["status"] == "Unlocked"
                res = await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 2})
                assert res["status"] == "UnknownConnector"
                assert csms.errors_sent == []
            finally:
                obs.close()
                evse.send_signal(signal.SIGTERM)
                try:
                    # awaited: the CSMS in this loop must answer evse's closing handshake
                    assert await asyncio.wait_for(evse.wait(), WAIT_S) == 0
                finally:
                    if evse.returncode is None:
                        evse.kill()
                        await evse.wait()
                    hal.stop(signal.SIGTERM)

    asyncio.run(scenario())
