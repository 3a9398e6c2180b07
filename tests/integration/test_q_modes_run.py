"""Section Q end to end: a scripted CSMS, `evse run` and hal as real processes on the
simulated grid. (a) Q03/Q04: a CentralSetpoint TxProfile (Dynamic) sets hal's setpoint,
UpdateDynamicSchedule moves it; a discharging setpoint is held at zero until the CSMS
allows V2X for the transaction (Q02, then Q01 NotifyAllowedEnergyTransfer). (b) Q08/Q11:
a LocalFrequency TxDefaultProfile makes the power follow the grid's frequency steps
while the CSMS is gone (hal executes it on every sample)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from tests.integration.test_evse_restart import PASSWORD, WAIT, Station, observer, wait_power

START = "2026-01-01T00:00:00Z"
CURVE = [{"frequency": 49.8, "power": 4000.0}, {"frequency": 50.2, "power": -4000.0}]
STEPS_AT = (30.0, 40.0)  # s after hal's start: 50.2 Hz, then 49.9 Hz
STEPS = "".join(
    f'[[sim.grid.events]]\nkind = "step"\nat_s = {at}\nfrequency_hz = {f}\n'
    for at, f in zip(STEPS_AT, (50.2, 49.9), strict=True)
)


def station(tmp: Any, port: int, grid_events: str = "") -> Station:
    st = Station(tmp, port, {"OCPPCommCtrlr.RetryBackOffWaitMinimum": 1,
                             "OCPPCommCtrlr.RetryBackOffRandomRange": 0})
    if grid_events:
        text = st.cfg.read_text()
        st.cfg.write_text(text.replace("seed = 3\n", "seed = 3\n" + grid_events, 1))
    return st


def tx_profile(pid: int, tx_id: str, period: dict[str, Any], **extra: Any) -> dict[str, Any]:
    schedule = {
        "id": 1,
        "chargingRateUnit": "W",
        "startSchedule": START,
        "chargingSchedulePeriod": [{"startPeriod": 0, **period}],
    }
    return {
        "id": pid,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Dynamic",
        "transactionId": tx_id,
        "chargingSchedule": [schedule],
        **extra,
    }


async def started_tx(csms: ScriptedCsms) -> str:
    def started() -> list[dict[str, Any]]:
        return [e for e in csms.of("TransactionEvent") if e["eventType"] == "Started"]

    await csms.wait_until(lambda: bool(started()), WAIT)
    return str(started()[0]["transactionInfo"]["transactionId"])


async def setpoint(obs: Any, watts: float) -> p.Measurement:
    return await asyncio.to_thread(
        obs.wait_for, p.Measurement, WAIT, lambda m: abs(m.setpoint_w - watts) < 1.0
    )


async def power(obs: Any, watts: float, hz: float | None = None) -> p.Measurement:
    def pred(m: p.Measurement) -> bool:
        at_hz = hz is None or abs(m.frequency_hz - hz) < 0.02
        return at_hz and abs(m.active_w - watts) < 300.0

    return await asyncio.to_thread(obs.wait_for, p.Measurement, WAIT, pred)


def test_Q03_Q04_central_setpoint_set_then_update_dynamic_schedule_Q02_Q01_discharge(
    short_tmp: Any,
) -> None:
    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            st = station(short_tmp, csms.port)
            st.hal.start()
            await st.start_evse()
            obs = observer(st.hal)
            try:
                tx_id = await started_tx(csms)
                await wait_power(obs, charging=True)  # no profile: the config's 6000 W
                period = {"operationMode": "CentralSetpoint", "setpoint": 3000.0,
                          "limit": 11000.0, "dischargeLimit": -5000.0}
                req = {"evseId": 1, "chargingProfile": tx_profile(21, tx_id, period)}
                assert (await csms.call("SetChargingProfile", req))["status"] == "Accepted"
                await setpoint(obs, 3000.0)  # Q03
                update = {"chargingProfileId": 21, "scheduleUpdate": {"setpoint": 4500.0}}
                assert (await csms.call("UpdateDynamicSchedule", update))["status"] == "Accepted"
                await setpoint(obs, 4500.0)  # Q04
                await power(obs, 4500.0)
                update = {"chargingProfileId": 21, "scheduleUpdate": {"setpoint": -3000.0}}
                assert (await csms.call("UpdateDynamicSchedule", update))["status"] == "Accepted"
                await setpoint(obs, 0.0)  # Q02: no V2X authorization yet, charging only
                allow = {"transactionId": tx_id, "allowedEnergyTransfer": ["DC", "DC_BPT"]}
                res = await csms.call("NotifyAllowedEnergyTransfer", allow)
                assert res == {"status": "Accepted"}
                await setpoint(obs, -3000.0)  # Q01: discharge allowed for this transaction
                await power(obs, -3000.0)
                assert csms.errors_sent == []
            finally:
                obs.close()
                await st.close()

    asyncio.run(scenario())


def test_Q08_Q11_local_frequency_follows_the_grid_steps_while_the_csms_is_gone(
    short_tmp: Any,
) -> None:
    """baseline 2000 W + freq-watt: 50.0 Hz -> 2000 W, 50.2 Hz -> -2000 W (discharge: the
    AuthorizeResponse allowed DC_BPT), 49.9 Hz -> 4000 W."""
    allowed = {"idTokenInfo": {"status": "Accepted"}, "allowedEnergyTransfer": ["DC_BPT"]}

    async def scenario() -> None:
        csms = ScriptedCsms({"Authorize": allowed}, passwords={"CS001": PASSWORD})
        await csms.start()
        st = station(short_tmp, csms.port, STEPS)
        hal_started = time.monotonic()
        st.hal.start()
        await st.start_evse()
        obs = observer(st.hal)
        try:
            await started_tx(csms)
            await wait_power(obs, charging=True)
            period = {"operationMode": "LocalFrequency", "v2xBaseline": 2000.0,
                      "v2xFreqWattCurve": CURVE, "limit": 6000.0, "dischargeLimit": -6000.0}
            prof = tx_profile(31, "", period)
            del prof["transactionId"]
            prof.update(chargingProfilePurpose="TxDefaultProfile", chargingProfileKind="Absolute")
            res = await csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": prof})
            assert res["status"] == "Accepted"
            await power(obs, 2000.0, 50.0)
            await csms.stop()  # the CSMS is gone: evse is offline from here on
            gone_at = time.monotonic() - hal_started
            assert gone_at < STEPS_AT[0], "the CSMS must be away before the first step"
            await power(obs, -2000.0, 50.2)  # Q08: hal follows the step, discharging
            await power(obs, 4000.0, 49.9)
            assert csms.connections == 1  # nothing reconnected meanwhile: offline throughout
        finally:
            obs.close()
            await st.close()
            await csms.stop()

    asyncio.run(scenario())


def test_Q11_central_frequency_falls_back_to_its_local_frequency_offline_Q12_resumes(
    short_tmp: Any,
) -> None:
    """A CentralFrequency TxDefaultProfile (setpoint 1000 W, maxOfflineDuration 2 s) that
    carries a baseline and freq-watt curve: with the CSMS gone longer than 2 s the station
    executes that LocalFrequency (2500 W at 50 Hz), not its no-profile default (6000 W);
    with the CSMS back the central setpoint applies again."""

    async def scenario() -> None:
        csms = ScriptedCsms(passwords={"CS001": PASSWORD})
        port = await csms.start()
        st = station(short_tmp, port)
        st.hal.start()
        await st.start_evse()
        obs = observer(st.hal)
        try:
            await started_tx(csms)
            await wait_power(obs, charging=True)
            period = {"operationMode": "CentralFrequency", "setpoint": 1000.0,
                      "v2xBaseline": 2500.0, "v2xFreqWattCurve": CURVE, "limit": 6000.0}
            prof = tx_profile(51, "", period, maxOfflineDuration=2)
            del prof["transactionId"]
            prof.update(chargingProfilePurpose="TxDefaultProfile", chargingProfileKind="Absolute")
            res = await csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": prof})
            assert res["status"] == "Accepted"
            await setpoint(obs, 1000.0)  # Q07: the CSMS's setpoint while online
            await csms.stop()
            m = await setpoint(obs, 2500.0)  # Q11: the profile's own LocalFrequency
            assert abs(m.frequency_hz - 50.0) < 0.05
            await csms.start(port=port)
            await setpoint(obs, 1000.0)  # Q12: back online, the central profile again
            assert csms.connections == 2
        finally:
            obs.close()
            await st.close()
            await csms.stop()

    asyncio.run(scenario())
