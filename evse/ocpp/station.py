"""`OcppStation`: the one entry point the station runs for its line to the CSMS.

    station = OcppStation(config, store_path, port)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(station.run())      # cancellable; closes the socket and the store
    station.notify(EvPlugged(1))           # station events in (see interfaces.py)
    await station.present_id_token(1, {"idToken": "ABC", "type": "ISO14443"})

It connects (network profiles by NetworkConfigurationPriority, back-off of OCPP-J 5.4),
boots, then runs the queue sender and heartbeat while the connection lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from evse.energy.types import SchedulePeriod
from evse.ocpp.afrr import AfrrSignals
from evse.ocpp.authorization import Authorization
from evse.ocpp.backoff import ReconnectBackoff, wait_backoff
from evse.ocpp.clock import Clock, RealClock, iso, wait_for
from evse.ocpp.config import OcppConfig
from evse.ocpp.connection import ConnectFailed, NetworkProfile, TlsFiles, open_connection
from evse.ocpp.der_control import DerControls
from evse.ocpp.device_model import DeviceModel, Slot
from evse.ocpp.endpoint import CallTimeout, ConnectionLost, OcppCallError, RpcEndpoint
from evse.ocpp.handlers import build_handlers
from evse.ocpp.interfaces import (
    DER_ALARM_EVENTS,
    ConnectorStatus,
    EnergyTransfer,
    EvPlugged,
    EvUnplugged,
    PowerPathClosed,
    PowerPathOpened,
    StationEvent,
    StationPort,
)
from evse.ocpp.meter_schedule import meter_schedule
from evse.ocpp.provisioning import Provisioning, boot_payload
from evse.ocpp.queue import MessageQueue, QueueSettings
from evse.ocpp.remote_control import RemoteControl
from evse.ocpp.rpc import RpcSession
from evse.ocpp.schemas import OcppVersion, SchemaRegistry
from evse.ocpp.smart_charging import SmartCharging
from evse.ocpp.transactions import Transactions
from evse.ocpp.versions import VersionedCaller, adapt
from evse.station.ev_needs import EvNeeds
from evse.store import Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]


class OcppStation:
    def __init__(
        self,
        config: OcppConfig,
        store_path: Path,
        port: StationPort,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_frame: Callable[[str, str], None] | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or RealClock()
        self.port = port
        self.store = Store(store_path)
        seeds: dict[str, str | int | float | bool] = {
            "SecurityCtrlr.Identity": config.station_id,
            "SecurityCtrlr.SecurityProfile": config.security_profile,
            "ChargingStation.Model": config.model,
            "ChargingStation.VendorName": config.vendor_name,
            "OCPPCommCtrlr.MessageTimeout@Default": int(config.message_timeout),
            "OCPPCommCtrlr.QueueAllMessages": config.queue_all_messages,
        }
        seeds.update(config.variables)
        self.dm = DeviceModel(self.store, evses=config.evses, seeds=seeds)
        self.schemas = SchemaRegistry()
        self.online = False
        self.boot_accepted = False
        self.version: OcppVersion | None = None
        self.endpoint: RpcEndpoint | None = None
        self._on_frame = on_frame
        self.queue = MessageQueue(self.store, self.clock, self._queue_settings, self._delivered)
        self.auth = Authorization(
            self.dm, self.store, self.clock, lambda: self.online, self._call_now
        )
        self.tx = Transactions(
            self.dm, self.store, self.queue, self.clock, port, lambda: self.online, config.evses
        )
        inoperative = (self.store.get_meta("inoperative") or "").split(",")
        statuses: dict[tuple[int, int], str] = {}
        for evse_id, st in self.tx.evses.items():
            st.operative = str(evse_id) not in inoperative
            statuses[(evse_id, 1)] = "Available" if st.operative else "Unavailable"
        self.prov = Provisioning(config, self.dm, self.store, self.clock, self.queue.push)
        self.afrr = AfrrSignals(self, config.evses, self.clock.wall)  # Q08 aFRR (op-modes)
        self.remote = RemoteControl(
            self.dm,
            self.store,
            self.clock,
            port,
            self.queue,
            self.auth,
            self.tx,
            statuses,
            lambda: self.boot_accepted,
            self._heartbeat_now,
        )
        self.backoff = ReconnectBackoff(
            self.dm.get_int("OCPPCommCtrlr", "RetryBackOffWaitMinimum"),
            self.dm.get_int("OCPPCommCtrlr", "RetryBackOffRandomRange"),
            self.dm.get_int("OCPPCommCtrlr", "RetryBackOffRepeatTimes"),
            rng or random.Random(),
        )
        self._events: asyncio.Queue[StationEvent] = asyncio.Queue()
        self._meter_wake = asyncio.Event()
        self.tx.changed = self._meter_wake.set
        self.connected = asyncio.Event()  # set while a booted connection is up (tests, UI)
        self._offline_since: float | None = None
        self._started = self.clock.monotonic()  # Q11: offline from here to the 1st connect
        self._heartbeat_changed = asyncio.Event()
        self.dm.on_change(self._variable_changed)
        self.der = DerControls(self.dm, self.store, self.clock, self.queue.push, port, config.units)
        self.stats = {"unexpected_errors": 0, "fast_retries": 0}
        self.smart = SmartCharging(
            self.dm, self.store, self.clock, self.tx, self.queue.push, self._call_now,
            self._offline_for, self.auth.allowed_transfer,
        )

    # -- inputs from the station ------------------------------------------------------

    def notify(self, event: StationEvent) -> None:
        """Hand a station event to the OCPP side; processed in order by `run`."""
        if isinstance(event, DER_ALARM_EVENTS):
            return self.der.alarm(event)  # R05: queued (persisted) at once
        self._events.put_nowait(event)

    def notify_ev_charging_needs(self, evse_id: int, needs: EvNeeds) -> None:
        self.smart.needs.notify(evse_id, needs)  # K15/K17, Q01/Q02: ev_charging_needs.py

    def authorized(self, evse_id: int) -> bool:
        """Is the EVSE's current (or coming) transaction authorized already?"""
        st = self.tx.evses.get(evse_id)
        return st is not None and st.id_token is not None

    async def present_id_token(self, evse_id: int, id_token: Payload) -> Payload:
        """C01: a locally read idToken; returns its IdTokenInfo. The same token presented
        again during its transaction stops it (E07, StopAuthorized)."""
        st = self.tx.evses[evse_id]
        if st.transaction_id is not None and st.id_token == id_token:
            await self.tx.deauthorize(evse_id, "StopAuthorized", "Local")
            return {"status": "Accepted"}
        info = await self.auth.authorize(id_token)
        if info.get("status") == "Accepted":
            await self.tx.authorized(evse_id, id_token)
        return info

    def current_period(self, evse_id: int) -> SchedulePeriod | None:
        """K08 / Q: the merged charging-schedule period in force on the EVSE now."""
        return self.smart.current_period(evse_id)

    def _offline_for(self) -> float | None:
        since = self._started if self._offline_since is None else self._offline_since  # Q11
        return None if self.online else self.clock.monotonic() - since

    # -- helpers ----------------------------------------------------------------------

    def _queue_settings(self) -> QueueSettings:
        return QueueSettings(
            message_attempts=self.dm.get_int(
                "OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"
            ),
            attempt_interval=self.dm.get_int(
                "OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"
            ),
            queue_all=self.dm.get_bool("OCPPCommCtrlr", "QueueAllMessages"),
            max_volatile=self.config.queue_max_normal,
            max_rows=self.config.queue_max_rows,
            max_bytes=self.config.queue_max_bytes,
        )

    async def _delivered(self, action: str, payload: Payload, response: Payload) -> None:
        if action == "TransactionEvent":
            if "idTokenInfo" in response and "idToken" in payload:
                self.auth.remember(payload["idToken"], response["idTokenInfo"])
            await self.tx.on_response(payload, response)

    async def _call_now(self, action: str, payload: Payload) -> Payload:
        endpoint = self.endpoint
        if endpoint is None or not self.online or self.version is None:
            raise ConnectionLost("offline")
        return await endpoint.call(action, adapt(self.version, action, payload))

    async def _heartbeat_now(self) -> None:
        await self._call_now("Heartbeat", {})

    def _variable_changed(self, slot: Slot, value: str) -> None:
        if (slot.spec.component, slot.spec.variable) == ("OCPPCommCtrlr", "HeartbeatInterval"):
            self._heartbeat_changed.set()  # the new interval counts from now on

    def security_event(self, kind: str, tech_info: str = "") -> None:
        """A03 / A04: SecurityEventNotification, always persisted (queued)."""
        payload: Payload = {"type": kind, "timestamp": iso(self.clock.wall())}
        if tech_info:
            payload["techInfo"] = tech_info[:255]
        self.queue.push("SecurityEventNotification", payload)

    # -- main loop --------------------------------------------------------------------

    async def run(self) -> None:
        try:
            # A05 security log: critical events are always sent (queued, persisted).
            reset = self.store.get_meta("boot_reason") == "RemoteReset"
            self.security_event("ResetOrReboot" if reset else "StartupOfTheDevice")
            # Stored values that fail validation were replaced by defaults: say so.
            self.prov.report_start_problems()
            await self.tx.resume_after_boot()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._connection_loop())
                tg.create_task(self._event_loop())
                tg.create_task(
                    meter_schedule(self.dm, self.tx, self.queue, self.clock, self._meter_wake)
                )
                tg.create_task(self.smart.run())  # Q04 PullDynamicScheduleUpdate
                tg.create_task(self.der.run())
        finally:
            self.online = False
            self.store.close()

    async def _connection_loop(self) -> None:
        """Connect, serve, back off, forever: no exception ends it (only cancellation).
        An unexpected one is logged with its traceback and treated as a lost connection,
        so a bad frame or a bug costs one reconnect, never the OCPP client."""
        tls = TlsFiles(self.config.ca_cert, self.config.client_cert, self.config.client_key)
        cursor = [0, 0]  # profile index, failed attempts on it
        while True:
            profile: NetworkProfile | None = None
            try:
                profile = await self._connect_and_serve(tls, cursor)
            except Exception:
                log.exception("OCPP connection failed unexpectedly; reconnecting with back-off")
                self.stats["unexpected_errors"] += 1
                self._count_failure(cursor)
            delay = self.backoff.next_from(self.dm.get_int)
            url = profile.url if profile is not None else self.config.csms_url
            try:
                if await wait_backoff(self.clock, delay, self.config.reconnect_probe_s, url):
                    log.info("CSMS reachable again: retrying now, not after %.0f s", delay)
                    self.stats["fast_retries"] += 1
            except Exception:
                log.exception("reachability probe failed; plain back-off")
                await self.clock.sleep(delay)

    def _count_failure(self, cursor: list[int]) -> None:
        cursor[1] += 1
        if cursor[1] >= self.dm.get_int("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"):
            cursor[0], cursor[1] = cursor[0] + 1, 0  # B10: fall back to the next profile

    async def _connect_and_serve(self, tls: TlsFiles, cursor: list[int]) -> NetworkProfile:
        order = self.prov.priority()
        profile = self.prov.profiles()[order[cursor[0] % len(order)]]
        try:
            conn, version = await open_connection(
                self._with_password(profile),
                self.config.station_id,
                tls,
                self.config.versions,
                self.dm.get_int("OCPPCommCtrlr", "WebSocketPingInterval"),
                open_timeout=profile.message_timeout,
            )
        except ConnectFailed as exc:
            log.warning("connect to %s failed: %s", profile.url, exc.reason)
            if exc.security_event is not None:
                self.security_event(exc.security_event, exc.reason)
            self._count_failure(cursor)
            return profile
        cursor[1] = 0
        self.backoff.reset()
        slot = self.dm.find("OCPPCommCtrlr", "ActiveNetworkProfile")
        if slot is not None:
            self.dm.set_internal(slot, str(profile.slot))
        await self._serve(conn, version, profile)
        return profile

    def _with_password(self, profile: NetworkProfile) -> NetworkProfile:
        # A01: a BasicAuthPassword set through SetVariables is used from the next connect.
        stored = self.dm.get("SecurityCtrlr", "BasicAuthPassword")
        if stored and profile.slot == 0:
            return NetworkProfile(
                profile.slot, profile.url, profile.security_profile, stored, profile.message_timeout
            )
        return profile

    async def _serve(self, conn: Any, version: OcppVersion, profile: NetworkProfile) -> None:
        session = RpcSession(self.schemas.for_version(version), profile.message_timeout)
        endpoint = RpcEndpoint(
            session,
            conn,
            self.clock,
            build_handlers(self),
            None,
            (ConnectionClosed,),
            self._on_frame,
        )
        self.endpoint, self.version = endpoint, version
        log.info("connected to %s speaking %s", profile.url, version)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(endpoint.run())
                tg.create_task(self._online_work(endpoint))
        except* (ConnectionLost, CallTimeout) as group:
            log.warning("connection ended: %s", group.exceptions[0])
        finally:
            if self.online:
                self._offline_since = self.clock.monotonic()
            self.online = False
            self.connected.clear()
            self.endpoint = None
            await conn.close()

    async def _online_work(self, endpoint: RpcEndpoint) -> None:
        while not self.boot_accepted:
            reason = self.store.get_meta("boot_reason") or "PowerUp"
            try:
                response = await endpoint.call(
                    "BootNotification", boot_payload(self.config, reason)
                )
            except (OcppCallError, CallTimeout) as exc:
                log.warning("BootNotification failed (%s); again in 60 s", exc)
                await self.clock.sleep(60)  # B01: a failed boot is retried
                continue
            interval = int(response["interval"])
            if response["status"] == "Accepted":
                self.boot_accepted = True
                self.store.set_meta("boot_reason", "PowerUp")
                if interval > 0:
                    slot = self.dm.find("OCPPCommCtrlr", "HeartbeatInterval")
                    if slot is not None:
                        self.dm.set_internal(slot, str(interval))  # B01.FR.?
                for evse_id, connector_id in sorted(self.remote.statuses):
                    self.remote.status_notification(evse_id, connector_id)  # B01.FR.?
                break
            # B02 Pending / B03 Rejected: boot again after `interval` (default 60 s).
            await self.clock.sleep(interval if interval > 0 else 60)
        since, self._offline_since = self._offline_since, None
        threshold = self.dm.get_int("OCPPCommCtrlr", "OfflineThreshold")
        if since is not None and self.clock.monotonic() - since > threshold:
            # B04: back after longer than OfflineThreshold: report every connector again.
            for evse_id, connector_id in sorted(self.remote.statuses):
                self.remote.status_notification(evse_id, connector_id)
        self.online = True
        self.connected.set()
        versioned = VersionedCaller(endpoint)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.queue.run(versioned))
            tg.create_task(self._heartbeat_loop(endpoint))

    async def _heartbeat_loop(self, endpoint: RpcEndpoint) -> None:
        """G02: a Heartbeat every HeartbeatInterval; a new interval (SetVariables, or a
        BootNotificationResponse) applies at once, counted from the last heartbeat."""
        last = self.clock.monotonic()
        while True:
            self._heartbeat_changed.clear()
            interval = self.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval")
            due = last + interval - self.clock.monotonic()
            if due > 0:
                with contextlib.suppress(TimeoutError):
                    await wait_for(self.clock, self._heartbeat_changed.wait(), due)
                    continue  # changed: compute the deadline again
            last = self.clock.monotonic()
            try:
                await endpoint.call("Heartbeat", {})  # G02
            except (OcppCallError, CallTimeout) as exc:
                log.warning("Heartbeat failed: %s", exc)

    async def _event_loop(self) -> None:
        while True:
            event = await self._events.get()
            if event.evse_id not in self.tx.evses:
                log.warning("station event for unknown EVSE ignored: %r", event)
                continue
            if isinstance(event, EvPlugged):
                await self.tx.ev_plugged(event.evse_id, event.connector_id)
            elif isinstance(event, EvUnplugged):
                await self.tx.ev_unplugged(event.evse_id)
            elif isinstance(event, PowerPathClosed | PowerPathOpened):
                await self.tx.power_path(event.evse_id, isinstance(event, PowerPathClosed))
            elif isinstance(event, EnergyTransfer):
                await self.tx.energy(event.evse_id, event.flowing, event.suspended_by)
            elif isinstance(event, ConnectorStatus):
                self.remote.set_status(event.evse_id, event.connector_id, event.status)
            await self.remote.apply_pending()
