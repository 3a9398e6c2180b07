"""State after restarts and pauses (issue 10): hal, `evse run` and a scripted CSMS as real
processes / sockets; evse is paused, killed, stopped or reset mid-charge, and the station
must come back to what it was: power flowing, the transaction going on (or, where OCPP
says it ends, a new one started for the EV still plugged in), the connector never shown
Available while the EV is there."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from tests.conftest import Client, HalProcess, sim_config

PASSWORD = "0123456789abcdef"
WAIT = 30.0  # generous: CI machines are slow and shared


def observer(hal: HalProcess) -> Client:
    """A read-only contract client: never counts as evse's keep-alive."""
    c = Client(hal.socket, hello=False)
    c.send(p.Hello(p.PROTOCOL_VERSION, "test-observer", p.ROLE_OBSERVER))
    return c


async def wait_power(obs: Client, charging: bool) -> p.Measurement:
    def pred(m: p.Measurement) -> bool:
        if charging:
            return m.contactor_closed and abs(m.active_w - 6000.0) < 100.0
        return not m.contactor_closed and abs(m.active_w) < 50.0

    return await asyncio.to_thread(obs.wait_for, p.Measurement, WAIT, pred)


class Station:
    """hal + `evse run` (a process that can be paused, killed and started again)."""

    def __init__(self, tmp: Path, csms_port: int | None, variables: dict[str, Any]) -> None:
        self.tmp = tmp
        self.cfg = sim_config(tmp)
        text = self.cfg.read_text() + f'id_token = "CARD0001"\nstate_dir = "{tmp}/evse"\n'
        if csms_port is not None:
            text += (
                f'\n[ocpp]\ncsms_url = "ws://127.0.0.1:{csms_port}/ocpp"\n'
                f'station_id = "CS001"\nbasic_auth_password = "{PASSWORD}"\n'
                "[ocpp.variables]\n"
            )
            for key, value in variables.items():
                text += f'"{key}" = {value}\n'
        self.cfg.write_text(text)
        self.hal = HalProcess(self.cfg)
        self.evse: asyncio.subprocess.Process | None = None

    async def start_evse(self) -> None:
        self.evse = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "evse.cli",
            "run",
            "--config",
            str(self.cfg),
            "--power-w",
            "6000",
            env=dict(os.environ),
            stderr=(self.tmp / "evse.log").open("ab"),
        )

    async def end_evse(self, sig: int | None) -> int:
        """Send `sig` (None: it ends by itself) and wait for the exit code."""
        assert self.evse is not None
        if sig is not None:
            self.evse.send_signal(sig)
        return await asyncio.wait_for(self.evse.wait(), WAIT)

    async def close(self) -> None:
        if self.evse is not None and self.evse.returncode is None:
            self.evse.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.evse.wait(), WAIT)
            except TimeoutError:
                self.evse.kill()
                await self.evse.wait()
        if self.hal.alive():
            self.hal.stop(signal.SIGTERM)


def tx_events(csms: ScriptedCsms) -> list[dict[str, Any]]:
    return csms.of("TransactionEvent")


def statuses(csms: ScriptedCsms) -> list[str]:
    return [s["connectorStatus"] for s in csms.of("StatusNotification")]


def test_keepalive_restored_resends_power_request_and_allow(short_tmp: Path) -> None:
    """hal's keep-alive timeout (0.5 s) while evse is paused with SIGSTOP: hal ramps to
    zero and releases the contactor; after SIGCONT evse hears keepalive_restored and must
    send its power request and allow-power-on again, as after a connect."""

    async def scenario() -> None:
        st = Station(short_tmp, None, {})
        st.hal.start()
        await st.start_evse()
        obs = observer(st.hal)
        try:
            await wait_power(obs, charging=True)
            assert st.evse is not None
            st.evse.send_signal(signal.SIGSTOP)
            await asyncio.to_thread(
                obs.wait_for, p.Event, WAIT, lambda e: e.kind == "keepalive_lost"
            )
            await wait_power(obs, charging=False)
            st.evse.send_signal(signal.SIGCONT)
            await asyncio.to_thread(
                obs.wait_for, p.Event, WAIT, lambda e: e.kind == "keepalive_restored"
            )
            await wait_power(obs, charging=True)
        finally:
            obs.close()
            if st.evse is not None and st.evse.returncode is None:
                st.evse.send_signal(signal.SIGCONT)
            await st.close()

    asyncio.run(scenario())


async def _charge_then(
    short_tmp: Path, variables: dict[str, Any], interrupt: str
) -> tuple[ScriptedCsms, str, int, int]:
    """Charge, interrupt evse (`kill9`, `sigterm` or a CSMS `reset`), wait until power is
    gone, start evse again and wait until power is back. Returns the CSMS, the first
    transaction id, and how many TransactionEvents / StatusNotifications came before."""
    async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
        st = Station(short_tmp, csms.port, variables)
        st.hal.start()
        await st.start_evse()
        obs = observer(st.hal)
        try:
            await csms.wait_until(
                lambda: any(e["eventType"] == "Started" for e in tx_events(csms)), WAIT
            )
            await wait_power(obs, charging=True)
            tx_id = tx_events(csms)[0]["transactionInfo"]["transactionId"]
            if interrupt == "reset":
                res = await csms.call("Reset", {"type": "Immediate"})
                assert res["status"] == "Accepted"
                assert await st.end_evse(None) == 75  # systemd starts it again
            else:
                sig = signal.SIGKILL if interrupt == "kill9" else signal.SIGTERM
                await st.end_evse(sig)
            await wait_power(obs, charging=False)
            n_tx, n_status = len(tx_events(csms)), len(statuses(csms))
            await st.start_evse()
            await wait_power(obs, charging=True)
            await csms.wait_until(lambda: len(statuses(csms)) > n_status, WAIT)
            return csms, tx_id, n_tx, n_status
        finally:
            obs.close()
            await st.close()


@pytest.mark.parametrize("interrupt", ["kill9", "sigterm"])
def test_e17_evse_restart_mid_charge_resumes_transaction_and_power(
    short_tmp: Path, interrupt: str
) -> None:
    """E17 (2.1): within TxResumptionTimeout the transaction goes on (Updated, TxResumed,
    same id, seqNo without a gap), energy transfer resumes (the EV is still plugged in and
    the transaction authorized), and the connector is reported Occupied, never Available."""
    variables = {"TxCtrlr.TxResumptionTimeout": 600, "SampledDataCtrlr.TxUpdatedInterval": 1}
    csms, tx_id, n_tx, n_status = asyncio.run(_charge_then(short_tmp, variables, interrupt))
    events = tx_events(csms)
    after = events[n_tx:]
    assert any(
        e["triggerReason"] == "TxResumed" and e["transactionInfo"]["transactionId"] == tx_id
        for e in after
    ), after
    assert all(e["eventType"] != "Ended" for e in events)
    assert {e["transactionInfo"]["transactionId"] for e in events} == {tx_id}
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert "Available" not in statuses(csms)[n_status:]
    assert "Occupied" in statuses(csms)[n_status:]
    assert csms.errors_sent == []


@pytest.mark.parametrize("interrupt", ["kill9", "reset"])
def test_e17_without_resumption_ends_and_starts_anew_for_the_plugged_ev(
    short_tmp: Path, interrupt: str
) -> None:
    """TxResumptionTimeout 0 (E17: no resumption) or a CSMS Reset (B11: ends it): the old
    transaction ends, and since hal reports the EV still plugged in, a new one starts at
    once (E01, EVConnected) and gets energy; the connector is never shown Available."""
    variables = {"SampledDataCtrlr.TxUpdatedInterval": 1}
    csms, tx_id, _, n_status = asyncio.run(_charge_then(short_tmp, variables, interrupt))
    events = tx_events(csms)
    ended = [e for e in events if e["eventType"] == "Ended"]
    assert [e["transactionInfo"]["transactionId"] for e in ended] == [tx_id]
    reason = "ImmediateReset" if interrupt == "reset" else "PowerLoss"
    assert ended[0]["transactionInfo"]["stoppedReason"] == reason
    started = [e for e in events if e["eventType"] == "Started"]
    assert len(started) == 2 and started[1]["transactionInfo"]["transactionId"] != tx_id
    assert started[1]["idToken"]["idToken"] == "CARD0001"
    assert "Available" not in statuses(csms)[n_status:]
    assert csms.errors_sent == []


def test_g01_occupied_on_plug_in_and_b04_offline_threshold_resends_real_status(
    short_tmp: Path,
) -> None:
    """G01: StatusNotification Occupied when the EV plugs in (after the boot's Available).
    B04: back online after longer than OfflineThreshold, every connector is reported
    again with its real status: Occupied mid-session, not Available."""

    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            variables = {
                "OCPPCommCtrlr.OfflineThreshold": 1,
                "OCPPCommCtrlr.RetryBackOffWaitMinimum": 1,
                "OCPPCommCtrlr.RetryBackOffRandomRange": 0,
            }
            st = Station(short_tmp, csms.port, variables)
            # The EV plugs in 6 s after hal starts: after evse booted.
            st.cfg.write_text(
                st.cfg.read_text().replace("plug_in_at_s = 0.0", "plug_in_at_s = 6.0")
            )
            st.hal.start()
            await st.start_evse()
            obs = observer(st.hal)
            try:
                await csms.wait_until(lambda: statuses(csms)[:1] == ["Available"], WAIT)
                await wait_power(obs, charging=True)
                await csms.wait_until(lambda: "Occupied" in statuses(csms), WAIT)
                n_status = len(statuses(csms))
                port = csms.port
                await csms.stop()
                await asyncio.sleep(3.0)  # offline for longer than OfflineThreshold (1 s)
                await csms.start(port=port)
                await csms.wait_until(lambda: len(statuses(csms)) > n_status, WAIT)
                assert statuses(csms)[n_status:] == ["Occupied"]
                assert csms.errors_sent == []
            finally:
                obs.close()
                await st.close()

    asyncio.run(scenario())
