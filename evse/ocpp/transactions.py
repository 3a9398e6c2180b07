"""Transactions (E01-E15): TransactionEvent Started / Updated / Ended from station events.

A transaction starts when any TxStartPoint condition becomes true and ends when any
TxStopPoint condition stops being true (E01, E06). Every event is persisted with the
next seqNo of its transaction in one SQL transaction (E04: gapless seqNo), flagged
`offline` when it happened while not connected (E04.FR.?: offline events). After a
reboot an open transaction is resumed with TxResumed within TxCtrlr.TxResumptionTimeout
(2.1 transaction continuity) or else ended with stoppedReason PowerLoss.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evse.ocpp.clock import Clock, iso
from evse.ocpp.device_model import DeviceModel
from evse.ocpp.interfaces import StationPort
from evse.ocpp.meter_values import meter_value, never_falling
from evse.ocpp.queue import MessageQueue
from evse.store import Store
from hal.devices.base import MeterReading

log = logging.getLogger(__name__)

Payload = dict[str, Any]
CONDITIONS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")


@dataclass
class EvseState:
    evse_id: int
    connector_id: int = 1
    ev_connected: bool = False
    id_token: Payload | None = None
    power_path: bool = False
    energy: bool = False
    suspended_by: str = "EV"
    transaction_id: str | None = None
    remote_start_id: int | None = None
    next_sample: float | None = None  # monotonic time of the next periodic sample
    connect_deadline: float | None = None  # authorized, waiting for the EV (E03)
    operative: bool = True
    register_wh: float | None = None  # the import register last seen in this transaction

    def condition(self, name: str) -> bool:
        return {
            "EVConnected": self.ev_connected,
            "Authorized": self.id_token is not None,
            "PowerPathClosed": self.power_path,
            "EnergyTransfer": self.energy,
        }.get(name, False)

    @property
    def charging_state(self) -> str:
        if self.energy:
            return "Charging"
        if self.power_path:
            return "SuspendedEV" if self.suspended_by == "EV" else "SuspendedEVSE"
        return "EVConnected" if self.ev_connected else "Idle"


class Transactions:
    def __init__(
        self,
        dm: DeviceModel,
        store: Store,
        queue: MessageQueue,
        clock: Clock,
        port: StationPort,
        online: Callable[[], bool],
        evses: int,
    ) -> None:
        self._dm = dm
        self._store = store
        self._queue = queue
        self._clock = clock
        self._port = port
        self._online = online
        self.evses = {i: EvseState(i) for i in range(1, evses + 1)}
        self.changed: Callable[[], None] = lambda: None  # the sampler's wake-up

    # -- queries ----------------------------------------------------------------------

    def by_transaction(self, transaction_id: str) -> EvseState | None:
        for st in self.evses.values():
            if st.transaction_id == transaction_id:
                return st
        return None

    def active(self) -> list[EvseState]:
        return [st for st in self.evses.values() if st.transaction_id is not None]

    # -- the event writer -------------------------------------------------------------

    def _measurands(self, var: str) -> list[str]:
        return self._dm.get_list("SampledDataCtrlr", var)

    def _reading(self, st: EvseState) -> MeterReading | None:
        reading = self._port.meter(st.evse_id)
        if reading is None or st.transaction_id is None:
            return reading
        reading, st.register_wh = never_falling(reading, st.register_wh, st.evse_id)
        return reading

    def _meter(self, st: EvseState, var: str, context: str) -> list[Payload]:
        reading = self._reading(st)
        if reading is None:
            return []
        mv = meter_value(reading, self._measurands(var), context, self._clock.wall())
        return [] if mv is None else [mv]

    def _emit(
        self,
        st: EvseState,
        event_type: str,
        trigger: str,
        meter: list[Payload] | None = None,
        stopped_reason: str | None = None,
        with_token: bool = False,
    ) -> int:
        assert st.transaction_id is not None
        now: datetime = self._clock.wall()
        offline = not self._online()
        info: Payload = {"transactionId": st.transaction_id, "chargingState": st.charging_state}
        if stopped_reason is not None:
            info["stoppedReason"] = stopped_reason
        if st.remote_start_id is not None and trigger == "RemoteStart":
            info["remoteStartId"] = st.remote_start_id
        token = st.id_token if with_token else None

        def build(seq_no: int) -> Payload:
            payload: Payload = {
                "eventType": event_type,
                "timestamp": iso(now),
                "triggerReason": trigger,
                "seqNo": seq_no,
                "transactionInfo": info,
                "evse": {"id": st.evse_id, "connectorId": st.connector_id},
            }
            if offline:
                payload["offline"] = True  # E04: happened while offline
            if token is not None:
                payload["idToken"] = token
            if meter:
                payload["meterValue"] = meter
            return payload

        data = {
            "idToken": st.id_token,
            "lastEvent": now.timestamp(),
            "evConnected": st.ev_connected,
            "registerWh": st.register_wh,
        }
        create = (st.evse_id, st.connector_id) if event_type == "Started" else None
        seq_no = self._queue.push_transaction_event(
            st.transaction_id, build, ends=event_type == "Ended", create=create, data=data
        )
        return seq_no

    def _start(self, st: EvseState, trigger: str) -> None:
        st.transaction_id = str(uuid.uuid4())  # its row is created with the Started event
        self._emit(
            st,
            "Started",
            trigger,
            self._meter(st, "TxStartedMeasurands", "Transaction.Begin"),
            with_token=st.id_token is not None,
        )
        interval = self._dm.get_int("SampledDataCtrlr", "TxUpdatedInterval")
        st.next_sample = self._clock.monotonic() + interval if interval > 0 else None
        self.changed()

    def _end(self, st: EvseState, trigger: str, reason: str) -> None:
        self._emit(
            st,
            "Ended",
            trigger,
            self._meter(st, "TxEndedMeasurands", "Transaction.End"),
            stopped_reason=reason,
        )
        st.transaction_id = None
        st.remote_start_id = None
        st.id_token = None
        st.next_sample = None
        st.register_wh = None
        self.changed()

    async def _apply(
        self,
        st: EvseState,
        before: dict[str, bool],
        trigger: str,
        stop_trigger: str,
        stopped_reason: str,
        with_token: bool = False,
    ) -> None:
        start_points = self._dm.get_list("TxCtrlr", "TxStartPoint")
        stop_points = self._dm.get_list("TxCtrlr", "TxStopPoint")
        after = {c: st.condition(c) for c in CONDITIONS}
        went_false = [c for c in CONDITIONS if before[c] and not after[c]]
        went_true = [c for c in CONDITIONS if after[c] and not before[c]]
        if st.transaction_id is not None and any(c in stop_points for c in went_false):
            self._end(st, stop_trigger, stopped_reason)  # E06: a stop point no longer holds
        elif st.transaction_id is None and any(c in start_points for c in went_true):
            # E01: a start point begins to hold (not one that still holds after a stop)
            self._start(st, trigger)
        elif st.transaction_id is not None and before != after:
            self._emit(st, "Updated", trigger, with_token=with_token)
        if st.transaction_id is None and "EVConnected" in went_false:
            st.id_token = None  # an authorization belongs to one plug-in session
        allowed = st.ev_connected and st.id_token is not None and st.operative
        await self._port.allow_energy_transfer(st.evse_id, allowed)

    def _snapshot(self, st: EvseState) -> dict[str, bool]:
        return {c: st.condition(c) for c in CONDITIONS}

    # -- inputs -----------------------------------------------------------------------

    async def ev_plugged(self, evse_id: int, connector_id: int) -> None:
        st = self.evses[evse_id]
        before = self._snapshot(st)
        st.ev_connected, st.connector_id = True, connector_id
        st.connect_deadline = None
        await self._apply(st, before, "CablePluggedIn", "EVCommunicationLost", "EVDisconnected")

    async def ev_unplugged(self, evse_id: int) -> None:
        st = self.evses[evse_id]
        before = self._snapshot(st)
        st.ev_connected = st.power_path = st.energy = False
        await self._apply(
            st, before, "EVCommunicationLost", "EVCommunicationLost", "EVDisconnected"
        )

    async def power_path(self, evse_id: int, closed: bool) -> None:
        st = self.evses[evse_id]
        before = self._snapshot(st)
        st.power_path = closed
        if not closed:
            st.energy = False
        await self._apply(st, before, "ChargingStateChanged", "ChargingStateChanged", "Local")

    async def energy(self, evse_id: int, flowing: bool, suspended_by: str) -> None:
        st = self.evses[evse_id]
        before = self._snapshot(st)
        st.energy, st.suspended_by = flowing, suspended_by
        await self._apply(st, before, "ChargingStateChanged", "ChargingStateChanged", "Local")

    async def authorized(
        self, evse_id: int, id_token: Payload, remote_start_id: int | None = None
    ) -> None:
        st = self.evses[evse_id]
        before = self._snapshot(st)
        st.id_token = id_token
        st.remote_start_id = remote_start_id
        timeout = self._dm.get_int("TxCtrlr", "EVConnectionTimeOut")
        if not st.ev_connected and timeout > 0:
            st.connect_deadline = self._clock.monotonic() + timeout
            self.changed()
        trigger = "RemoteStart" if remote_start_id is not None else "Authorized"
        await self._apply(st, before, trigger, "StopAuthorized", "Local", with_token=True)

    async def deauthorize(self, evse_id: int, trigger: str, reason: str) -> None:
        """Stop the transaction administratively (E07 local stop, F03 remote stop,
        E05 CSMS deauthorized): ends it if Authorized is a stop point, else just stops
        the energy."""
        st = self.evses[evse_id]
        before = self._snapshot(st)
        st.id_token = None
        if st.transaction_id is not None and "Authorized" not in self._dm.get_list(
            "TxCtrlr", "TxStopPoint"
        ):
            self._end(st, trigger, reason)  # a remote / local stop always ends it
        await self._apply(st, before, trigger, trigger, reason)

    # -- periodic ---------------------------------------------------------------------

    def next_due(self) -> float | None:
        dues = [st.next_sample for st in self.active() if st.next_sample is not None]
        dues += [
            st.connect_deadline for st in self.evses.values() if st.connect_deadline is not None
        ]
        return min(dues) if dues else None

    async def expire_connect(self) -> None:
        """E03 / TxCtrlr.EVConnectionTimeOut: authorized but no EV plugged in time: the
        authorization lapses; a transaction it started ends with EVConnectTimeout."""
        now = self._clock.monotonic()
        for st in self.evses.values():
            if st.connect_deadline is None or st.connect_deadline > now:
                continue
            st.connect_deadline = None
            if st.transaction_id is not None:
                self._end(st, "EVConnectTimeout", "Timeout")
            st.id_token = None
            await self._port.allow_energy_transfer(st.evse_id, False)

    def sample_due(self) -> None:
        """E02 / J02: TransactionEvent Updated with MeterValuePeriodic when due."""
        now = self._clock.monotonic()
        interval = self._dm.get_int("SampledDataCtrlr", "TxUpdatedInterval")
        for st in self.active():
            if st.next_sample is None or st.next_sample > now:
                continue
            meter = self._meter(st, "TxUpdatedMeasurands", "Sample.Periodic")
            if meter:
                self._emit(st, "Updated", "MeterValuePeriodic", meter)
            st.next_sample = max(st.next_sample + interval, now) if interval > 0 else None

    def aligned(self) -> list[Payload]:
        """J01: at a clock-aligned instant; returns MeterValues payloads for idle EVSEs."""
        measurands = self._dm.get_list("AlignedDataCtrlr", "Measurands")
        during_tx = not self._dm.get_bool("AlignedDataCtrlr", "SendDuringIdle")
        idle: list[Payload] = []
        for st in self.evses.values():
            reading = self._reading(st)
            if reading is None:
                continue
            mv = meter_value(reading, measurands, "Sample.Clock", self._clock.wall())
            if mv is None:
                continue
            if st.transaction_id is not None:
                if during_tx:
                    self._emit(st, "Updated", "MeterValueClock", [mv])
            else:
                idle.append({"evseId": st.evse_id, "meterValue": [mv]})
        return idle

    def aligned_for_trigger(self, evse_id: int | None) -> list[Payload]:
        """F06: MeterValues on request, with the sampled measurands (context Trigger)."""
        out = []
        for st in self.evses.values():
            reading = self._reading(st)
            if reading is None or evse_id not in (None, st.evse_id):
                continue
            mv = meter_value(
                reading,
                self._dm.get_list("AlignedDataCtrlr", "Measurands"),
                "Trigger",
                self._clock.wall(),
            )
            if mv is not None:
                out.append({"evseId": st.evse_id, "meterValue": [mv]})
        return out

    def trigger_updates(self, evse_id: int | None) -> None:
        """F06: TransactionEvent Updated with triggerReason Trigger."""
        for st in self.active():
            if evse_id in (None, st.evse_id):
                self._emit(
                    st, "Updated", "Trigger", self._meter(st, "TxUpdatedMeasurands", "Trigger")
                )

    def end_now(self, evse_id: int, trigger: str, reason: str) -> None:
        st = self.evses[evse_id]
        if st.transaction_id is not None:
            self._end(st, trigger, reason)

    # -- continuity -------------------------------------------------------------------

    async def resume_after_boot(self) -> None:
        """E17 (2.1): within TxCtrlr.TxResumptionTimeout an open transaction continues
        (Updated, TxResumed) with its authorization, and energy may flow again while it
        stays authorized and the EV connected; else it ends (AbnormalCondition, PowerLoss).
        The station's events (hal's state in force) say if the EV is still there: one
        gone ends it as any unplug does (E06)."""
        timeout = self._dm.get_int("TxCtrlr", "TxResumptionTimeout")
        wall = self._clock.wall().timestamp()
        for row in self._store.tx_all():
            if row.ended or row.evse_id not in self.evses:
                continue
            st = self.evses[row.evse_id]
            st.transaction_id, st.connector_id = row.transaction_id, row.connector_id
            st.id_token = row.data.get("idToken")
            register = row.data.get("registerWh")
            st.register_wh = float(register) if isinstance(register, int | float) else None
            last = float(row.data.get("lastEvent", 0.0))
            if timeout > 0 and wall - last <= timeout:
                st.ev_connected = bool(row.data.get("evConnected", True))
                self._emit(st, "Updated", "TxResumed")
                interval = self._dm.get_int("SampledDataCtrlr", "TxUpdatedInterval")
                st.next_sample = self._clock.monotonic() + interval if interval > 0 else None
                allowed = st.ev_connected and st.id_token is not None and st.operative
                await self._port.allow_energy_transfer(st.evse_id, allowed)
            else:
                self._end(st, "AbnormalCondition", "PowerLoss")

    async def on_response(self, payload: Payload, response: Payload) -> None:
        """E05.FR.?: a non-Accepted idTokenInfo in the TransactionEventResponse stops the
        transaction when TxCtrlr.StopTxOnInvalidId (triggerReason Deauthorized)."""
        info = response.get("idTokenInfo")
        if info is None or info.get("status") == "Accepted":
            return
        st = self.by_transaction(payload["transactionInfo"]["transactionId"])
        if st is not None and self._dm.get_bool("TxCtrlr", "StopTxOnInvalidId"):
            await self.deauthorize(st.evse_id, "Deauthorized", "DeAuthorized")
