"""Q08 LocalFrequency with V2XChargingCtrlr.LocalFrequencyUpdateThreshold (Part 2
appendix: "the amount of change in net frequency in mHz needed to trigger a
recalculation of the setpoint"), end to end: scripted CSMS, `evse run` and hal as real
processes. The CSMS sets the threshold to 150 mHz and a LocalFrequency profile (baseline
2000 W, -20 W/mHz above 50 Hz). The grid steps to 50.1 Hz: 100 mHz is under the
threshold, so hal keeps 2000 W (without it: 0 W); then to 50.2 Hz: 200 mHz from the last
recalculation, so the power follows (-2000 W)."""

from __future__ import annotations

import asyncio
from typing import Any

from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from tests.integration.test_evse_restart import PASSWORD, WAIT, observer, wait_power
from tests.integration.test_q_modes_run import CURVE, power, started_tx, station, tx_profile

STEPS_AT = (20.0, 30.0)  # s after hal's start: 50.1 Hz, then 50.2 Hz
STEPS = "".join(
    f'[[sim.grid.events]]\nkind = "step"\nat_s = {at}\nfrequency_hz = {f}\n'
    for at, f in zip(STEPS_AT, (50.1, 50.2), strict=True)
)


def powers_at_50_1(obs: Any) -> list[float]:
    """The stage's power in every measurement at 50.1 Hz, until the grid leaves it."""
    seen: list[float] = []
    obs.wait_for(p.Measurement, WAIT, lambda m: abs(m.frequency_hz - 50.1) < 0.02)
    while True:
        m = obs.wait_for(p.Measurement, WAIT)
        if m.frequency_hz > 50.15:
            return seen
        if abs(m.frequency_hz - 50.1) < 0.02:
            seen.append(m.active_w)


def test_q08_local_frequency_update_threshold_end_to_end(short_tmp: Any) -> None:
    allowed = {"idTokenInfo": {"status": "Accepted"}, "allowedEnergyTransfer": ["DC_BPT"]}

    async def scenario() -> None:
        async with ScriptedCsms({"Authorize": allowed}, passwords={"CS001": PASSWORD}) as csms:
            st = station(short_tmp, csms.port, STEPS)
            st.hal.start()
            await st.start_evse()
            obs = observer(st.hal)
            try:
                await started_tx(csms)
                await wait_power(obs, charging=True)
                var = {
                    "component": {"name": "V2XChargingCtrlr", "evse": {"id": 1}},
                    "variable": {"name": "LocalFrequencyUpdateThreshold"},
                    "attributeValue": "150",
                }
                res = await csms.call("SetVariables", {"setVariableData": [var]})
                assert res["setVariableResult"][0]["attributeStatus"] == "Accepted"
                period = {
                    "operationMode": "LocalFrequency",
                    "v2xBaseline": 2000.0,
                    "v2xFreqWattCurve": CURVE,
                    "limit": 6000.0,
                    "dischargeLimit": -6000.0,
                }
                prof = tx_profile(31, "", period)
                del prof["transactionId"]
                prof.update(
                    chargingProfilePurpose="TxDefaultProfile", chargingProfileKind="Absolute"
                )
                res = await csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": prof})
                assert res["status"] == "Accepted"
                await power(obs, 2000.0, 50.0)
                seen = await asyncio.to_thread(powers_at_50_1, obs)
                assert seen and all(abs(w - 2000.0) < 300.0 for w in seen), seen
                await power(obs, -2000.0, 50.2)  # past the threshold: recalculated
                assert csms.errors_sent == []
            finally:
                obs.close()
                await st.close()

    asyncio.run(scenario())
