"""Q01/Q02 V2X authorization and Q11/Q12 offline fallback on a real OcppStation against
the scripted CSMS (real WebSockets on loopback, SQLite on disk): what the station tells
the energy manager (`current_period`, `smart.v2x.may_discharge`) follows the CSMS's
allowedEnergyTransfer and the real connection state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ocpp_support import StationSide, config, eventually, running_station
from test_ocpp_smart_charging import CURVE, profile

from evse.ocpp.interfaces import EvPlugged, EvUnplugged, PowerPathClosed
from evse.ocpp.station import OcppStation
from tests.conftest import WAIT_S

TAG = {"idToken": "TAG1", "type": "ISO14443"}


async def _start_tx(r: Any) -> str:
    r.station.notify(EvPlugged(1))
    info = await r.station.present_id_token(1, TAG)
    assert info["status"] == "Accepted"
    r.station.notify(PowerPathClosed(1))
    await eventually(lambda: r.station.tx.evses[1].transaction_id is not None)
    return str(r.station.tx.evses[1].transaction_id)


def test_Q01_authorize_response_allowed_energy_transfer_lets_the_transaction_discharge(
    tmp_path: Path,
) -> None:
    answer = {"idTokenInfo": {"status": "Accepted"}, "allowedEnergyTransfer": ["DC", "DC_BPT"]}

    async def scenario() -> None:
        kw = {"responses": {"Authorize": answer}}
        async with running_station(tmp_path, csms_kwargs=kw) as r:
            v2x = r.station.smart.v2x
            assert not v2x.may_discharge(1)  # Q02: no transaction yet
            await _start_tx(r)
            assert v2x.may_discharge(1)  # Q01: DC_BPT allowed by the AuthorizeResponse
            r.station.notify(EvUnplugged(1))
            await eventually(lambda: r.station.tx.evses[1].transaction_id is None)
            assert not v2x.may_discharge(1)  # the permission ended with its transaction
            assert r.csms.errors_sent == []

    asyncio.run(scenario())


def test_Q02_charging_only_until_notify_allowed_energy_transfer_Q01_then_discharge(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:  # Authorize: no allowedEnergyTransfer
            v2x = r.station.smart.v2x
            tx_id = await _start_tx(r)
            assert not v2x.may_discharge(1)  # Q02: absent means charging only
            res = await r.csms.call(
                "NotifyAllowedEnergyTransfer",
                {"transactionId": "no-such-tx", "allowedEnergyTransfer": ["DC_BPT"]},
            )
            assert res["status"] == "Rejected"
            assert res["statusInfo"]["reasonCode"] == "TxNotFound"
            assert not v2x.may_discharge(1)
            res = await r.csms.call(
                "NotifyAllowedEnergyTransfer",
                {"transactionId": tx_id, "allowedEnergyTransfer": ["DC", "DC_BPT"]},
            )
            assert res == {"status": "Accepted"}
            assert v2x.may_discharge(1)
            back = {"transactionId": tx_id, "allowedEnergyTransfer": ["DC"]}
            res = await r.csms.call("NotifyAllowedEnergyTransfer", back)  # taken back
            assert res == {"status": "Accepted"} and not v2x.may_discharge(1)
            assert r.csms.errors_sent == []

    asyncio.run(scenario())


def test_Q01_allowed_energy_transfer_survives_an_evse_restart(tmp_path: Path) -> None:
    """The permission bound to the transaction is in SQLite: a station started again on
    the same database (the transaction resumed) still may discharge."""
    answer = {"idTokenInfo": {"status": "Accepted"}, "allowedEnergyTransfer": ["DC_BPT"]}

    async def scenario() -> None:
        kw = {"responses": {"Authorize": answer}}
        async with running_station(tmp_path, csms_kwargs=kw) as r:
            await _start_tx(r)
            assert r.station.smart.v2x.may_discharge(1)
            port = r.csms.port
        resume = config(port, variables={"TxCtrlr.TxResumptionTimeout": 600})
        again = OcppStation(resume, tmp_path / "evse.db", StationSide())
        try:
            await again.tx.resume_after_boot()
            assert again.tx.evses[1].transaction_id is not None
            assert again.smart.v2x.may_discharge(1)
        finally:
            again.store.close()

    asyncio.run(scenario())


CENTRAL_FREQ = [
    {
        "startPeriod": 0,
        "operationMode": "CentralFrequency",
        "setpoint": -2000.0,
        "dischargeLimit": -6000.0,
        "limit": 6000.0,
        "v2xBaseline": 1000.0,
        "v2xFreqWattCurve": CURVE,
    }
]


def test_Q11_central_frequency_goes_local_when_the_csms_is_gone_Q12_back_when_it_returns(
    tmp_path: Path,
) -> None:
    """The real connection: the CSMS stops, the station is offline longer than the
    profile's maxOfflineDuration and executes the period's own LocalFrequency; it comes
    back and the CentralFrequency profile applies again."""
    p = profile(7, "TxDefaultProfile", CENTRAL_FREQ, maxOfflineDuration=1)

    def mode(station: OcppStation) -> str | None:
        return (station.current_period(1) or {}).get("operationMode")

    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            res = await r.csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": p})
            assert res == {"status": "Accepted"}
            assert mode(r.station) == "CentralFrequency"
            port = r.csms.port
            await r.csms.stop()
            await eventually(lambda: not r.station.online)
            await eventually(lambda: mode(r.station) == "LocalFrequency")  # Q11
            period = r.station.current_period(1) or {}
            assert period["v2xBaseline"] == 1000.0 and period["v2xFreqWattCurve"] == CURVE
            assert (period["limit"], period["dischargeLimit"]) == (6000.0, -6000.0)
            await r.csms.start(port=port)
            await asyncio.wait_for(r.station.connected.wait(), WAIT_S)
            await eventually(lambda: mode(r.station) == "CentralFrequency")  # Q12

    asyncio.run(scenario())


def test_Q11_offline_counts_from_start_without_a_fallback_the_station_idles(
    tmp_path: Path,
) -> None:
    """A station that never reached its CSMS is offline: a CentralSetpoint profile past
    its maxOfflineDuration, with no lower profile and no local curve, means Idle (never
    the "no profile" default of charging at the config's request)."""
    bare = [{"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": 3000.0}]
    p = profile(8, "TxDefaultProfile", bare, maxOfflineDuration=1)

    async def scenario() -> None:
        station = OcppStation(config(1), tmp_path / "evse.db", StationSide())  # no CSMS
        try:
            res = await station.smart.on_set_charging_profile({"evseId": 1, "chargingProfile": p})
            assert res == {"status": "Accepted"}
            await eventually(
                lambda: (station.current_period(1) or {}).get("operationMode") == "Idle"
            )
        finally:
            station.store.close()

    asyncio.run(scenario())
