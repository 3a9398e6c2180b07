"""R01 / TC_R_101: the DCDERCtrlr of each EVSE lists the inverter's nameplate in a
GetBaseReport(FullInventory), with the values of the configured unit ([[evse]]
max_charge_w 11000, max_discharge_w 11000, max_var 6000; [grid] 230 V, 50 Hz), from
`evse run` against a scripted CSMS with hal running; ACDERCtrlr carries the same list."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

from evse.sim.csms import ScriptedCsms
from tests.integration.test_der_alarm_evse_down import PASSWORD
from tests.integration.test_evse_restart import WAIT, Station

NAMEPLATE = (
    "InverterManufacturer", "InverterModel", "InverterSerialNumber", "InverterSwVersion",
    "InverterHwVersion", "MaxW", "MaxVA", "MaxVar", "MaxVarNeg", "MaxChargeRateW",
    "MaxDischargeRateW", "OverExcitedMaxDischargePower", "OverExcitedPowerFactor",
    "UnderExcitedMaxDischargePower", "UnderExcitedPowerFactor", "NominalVoltage",
    "NominalVoltageOffset", "NominalFrequency", "IslandingDetectionMethod",
    "Available", "Enabled", "ModesSupported",
)  # fmt: skip


def test_r01_tc_r_101_dcderctrlr_nameplate_from_unit_ratings_in_full_inventory(
    short_tmp: Path,
) -> None:
    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            st = Station(short_tmp, csms.port, {"DCDERCtrlr.InverterModel": '"SIM-11"'})
            st.hal.start()
            await st.start_evse()
            try:
                await csms.wait_until(lambda: bool(csms.of("StatusNotification")), WAIT)
                req = {"requestId": 7, "reportBase": "FullInventory"}
                assert (await csms.call("GetBaseReport", req))["status"] == "Accepted"
                await csms.wait_until(
                    lambda: any(r["requestId"] == 7 and not r.get("tbc")
                                for r in csms.of("NotifyReport")), WAIT)  # fmt: skip
                values = report(csms, 7)
                dc = {v: values.get(("DCDERCtrlr", 1, v)) for v in NAMEPLATE}
                ac = {v: values.get(("ACDERCtrlr", 1, v)) for v in NAMEPLATE}
                assert None not in dc.values(), dc
                assert None not in ac.values(), ac
                assert dc["MaxVar"] == dc["MaxVarNeg"] == "6000"  # the unit's max_var
                assert dc["MaxW"] == dc["MaxChargeRateW"] == dc["MaxDischargeRateW"] == "11000"
                assert dc["MaxVA"] == "11000"
                with_var = math.sqrt(11000**2 - 6000**2)
                assert float(dc["OverExcitedMaxDischargePower"]) == round(with_var, 4)
                assert float(dc["OverExcitedPowerFactor"]) == round(with_var / 11000, 4)
                assert dc["NominalVoltage"] == "230" and dc["NominalFrequency"] == "50"
                assert dc["IslandingDetectionMethod"] == "UVP_OVP,UFP_OFP"
                assert dc["InverterModel"] == "SIM-11"
                assert csms.errors_sent == []
            finally:
                await st.close()

    asyncio.run(scenario())


def report(csms: ScriptedCsms, request_id: int) -> dict[tuple[str, Any, str], str]:
    out: dict[tuple[str, Any, str], str] = {}
    for r in csms.of("NotifyReport"):
        if r["requestId"] != request_id:
            continue
        for d in r.get("reportData", []):
            c = d["component"]
            key = (c["name"], c.get("evse", {}).get("id"), d["variable"]["name"])
            actual = [a for a in d["variableAttribute"] if a.get("type", "Actual") == "Actual"]
            out[key] = actual[0].get("value", "") if actual else ""
    return out
