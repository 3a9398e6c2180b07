"""NotifyEVChargingNeeds (OCPP 2.1 K15 / K17 with ISO 15118, Q01 / Q02 with the V2X
parameters): the EV's needs (evse/station/ev_needs.py) to the CSMS, and its answer kept
for the station to read.

`notify` checks the message against the schema at once (a bad value is a ValueError to
the caller, nothing queued) and hands it to `run`, which sends it when the CSMS can be
reached; needs are state, not events, so a newer call for the same EVSE replaces one not
yet sent, and `timestamp` says when the EV gave them (it may be sent later, offline).
The answer (Accepted, Processing, Rejected, NoChargingProfile; K15.FR / K17.FR: with
NoChargingProfile the station goes on with its TxDefaultProfile) is kept per EVSE in
`answer(evse_id)`, until the next needs of that EVSE.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evse.ocpp.clock import Clock, iso, wait_for
from evse.ocpp.endpoint import CallTimeout, ConnectionLost, OcppCallError
from evse.ocpp.schemas import OcppVersion, SchemaSet
from evse.station.ev_needs import EvNeeds

log = logging.getLogger(__name__)

Payload = dict[str, Any]
ACTION = "NotifyEVChargingNeeds"
RETRY_S = 2.0  # CSMS unreachable: try again this often (a newer call wakes it at once)
_UNITS = ("_wh", "_w", "_a", "_v")
_WORDS = {"soc": "SoC", "v2x": "V2X"}


@dataclass(frozen=True, slots=True)
class NeedsAnswer:
    status: str  # NotifyEVChargingNeedsStatusEnumType, or "CallError" (reason says why)
    reason: str  # statusInfo.reasonCode (+ additionalInfo), or the CALLERROR
    at: datetime  # when it came


def camel(name: str) -> str:
    """`min_charge_power_l2_w` -> `minChargePower_L2` (the schema's field names)."""
    for unit in _UNITS:
        if name.endswith(unit):
            name = name[: -len(unit)]
            break
    phase = ""
    if name.endswith(("_l2", "_l3")):
        name, phase = name[:-3], "_" + name[-2:].upper()
    first, *rest = name.split("_")
    return first + "".join(_WORDS.get(w, w.capitalize()) for w in rest) + phase


def _fields(obj: Any) -> Payload:
    values = ((f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj))
    return {camel(name): v for name, v in values if v is not None}


def request_payload(evse_id: int, needs: EvNeeds, now: datetime) -> Payload:
    """The NotifyEVChargingNeedsRequest for `needs` (not yet checked)."""
    cn: Payload = {"requestedEnergyTransfer": needs.requested_energy_transfer}
    if needs.available_energy_transfer:
        cn["availableEnergyTransfer"] = list(needs.available_energy_transfer)
    if needs.control_mode is not None:
        cn["controlMode"] = needs.control_mode
    if needs.mobility_needs_mode is not None:
        cn["mobilityNeedsMode"] = needs.mobility_needs_mode
    if needs.departure_time is not None:
        cn["departureTime"] = iso(needs.departure_time)
    for key, params in (
        ("acChargingParameters", needs.ac_charging_parameters),
        ("dcChargingParameters", needs.dc_charging_parameters),
        ("v2xChargingParameters", needs.v2x_charging_parameters),
    ):
        if params is not None:
            cn[key] = _fields(params)
    if needs.ev_energy_offer is not None:
        cn["evEnergyOffer"] = dict(needs.ev_energy_offer)
    if needs.der_charging_parameters is not None:
        cn["derChargingParameters"] = dict(needs.der_charging_parameters)
    out: Payload = {"evseId": evse_id, "chargingNeeds": cn}
    if needs.max_schedule_tuples is not None:
        out["maxScheduleTuples"] = needs.max_schedule_tuples
    out["timestamp"] = iso(needs.received_at or now)
    return out


class EvChargingNeeds:
    def __init__(
        self,
        call: Callable[[str, Payload], Awaitable[Payload]],
        clock: Clock,
        evse_ids: Callable[[], Container[int]],
    ) -> None:
        self._call, self._clock, self._evse_ids = call, clock, evse_ids
        self._schemas = SchemaSet(OcppVersion.V21)
        self._pending: dict[int, Payload] = {}
        self._answers: dict[int, NeedsAnswer] = {}
        self._wake = asyncio.Event()

    def notify(self, evse_id: int, needs: EvNeeds) -> None:
        """Queue the EV's needs for the CSMS (returns at once). ValueError: an unknown
        EVSE or a value the 2.1 schema refuses (the message says which)."""
        if evse_id not in self._evse_ids():
            raise ValueError(f"EV charging needs for unknown EVSE {evse_id}")
        payload = request_payload(evse_id, needs, self._clock.wall())
        problem = self._schemas.check(ACTION, "Request", payload)
        if problem is not None:
            raise ValueError(f"EV charging needs of EVSE {evse_id}: {problem.description}")
        self._pending[evse_id] = payload  # replaces needs of this EVSE not sent yet
        self._answers.pop(evse_id, None)  # the old answer was about the old needs
        self._wake.set()

    def answer(self, evse_id: int) -> NeedsAnswer | None:
        """The CSMS's answer to the EVSE's last needs (None: none yet)."""
        return self._answers.get(evse_id)

    def pending(self, evse_id: int) -> bool:
        return evse_id in self._pending

    async def run(self) -> None:
        while True:
            self._wake.clear()
            if not self._pending:
                await self._wake.wait()
                continue
            evse_id, payload = next(iter(self._pending.items()))
            try:
                response = await self._call(ACTION, payload)
            except (ConnectionLost, CallTimeout) as exc:
                log.info("NotifyEVChargingNeeds of EVSE %d not sent yet: %s", evse_id, exc)
                with contextlib.suppress(TimeoutError):
                    await wait_for(self._clock, self._wake.wait(), RETRY_S)
                continue
            except OcppCallError as exc:  # the CSMS refused the message itself
                self._done(evse_id, payload, "CallError", str(exc))
                continue
            info = response.get("statusInfo") or {}
            reason = " ".join(str(info[k]) for k in ("reasonCode", "additionalInfo") if k in info)
            self._done(evse_id, payload, str(response["status"]), reason)

    def _done(self, evse_id: int, payload: Payload, status: str, reason: str) -> None:
        if self._pending.get(evse_id) is not payload:
            return  # newer needs came meanwhile: this answer is about the old ones
        del self._pending[evse_id]
        self._answers[evse_id] = NeedsAnswer(status, reason, self._clock.wall())
        log.info("NotifyEVChargingNeeds EVSE %d: %s %s", evse_id, status, reason)
