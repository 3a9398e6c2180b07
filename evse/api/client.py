"""The adapter: one aiomqtt connection to the broker of `[mqtt]`, kept with back-off.

The controller calls `offer` on its own loop (sync, returns at once): status goes into
the bounded outbox, newest per topic wins. Commands come in on the receiver task, are
handled at once (handler.py) and change only the EMS inputs the energy manager reads on
its next decision, which `_refresher` asks for at once, at most every REFRESH_MIN_S (a
flood of commands costs hal at most one request per EVSE per hal period). Nothing here
awaits the controller; a slow or absent broker slows only this part."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from evse.api.acceptance import EvseFacts
from evse.api.discovery import discovery_messages
from evse.api.ems_inputs import EmsInputs
from evse.api.handler import CommandHandler, Incoming, Rating, StationControl
from evse.api.outbox import Outbox, Outgoing
from evse.api.snapshot import firmware_version
from evse.api.status import StationSnapshot, evse_status, station_status
from evse.api.status_gate import StatusGate
from evse.api.topics import Topics
from evse.config import MqttConfig

log = logging.getLogger(__name__)

REFRESH_MIN_S = 0.02  # one hal sample period
BACKOFF_FIRST_S = 0.5
INCOMING_MAX = 1000  # aiomqtt's queue of received messages; beyond it they are dropped
PUBLISH_TIMEOUT_S = 10.0


def _tls(cfg: MqttConfig) -> ssl.SSLContext | None:
    if not cfg.tls:
        return None
    ctx = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
    if cfg.cert_file is not None and cfg.key_file is not None:
        ctx.load_cert_chain(str(cfg.cert_file), str(cfg.key_file))
    return ctx


class MqttApi:
    def __init__(
        self,
        cfg: MqttConfig,
        station: StationControl,
        refresh: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.topic_prefix)
        self.ems = EmsInputs()
        self.outbox = Outbox(cfg.queue_max)
        self.gate = StatusGate(cfg.status_period_s, cfg.status_min_interval_s)
        self.handler = CommandHandler(
            self.topics, self.ems, station, self._ems_changed_now,
            cfg.max_payload_bytes, cfg.max_expiry_s,
        )
        self._refresh = refresh
        self._clock = clock
        self._wall = wall
        self._v5 = cfg.protocol == "5"
        self._facts: dict[int, EvseFacts] = {}
        self._ratings: dict[int, Rating] = {}
        self._wake = asyncio.Event()
        self._ems_changed = asyncio.Event()
        self._discovery_due = True
        self.firmware = firmware_version()
        self.connected = False
        self.connects = 0
        self.published = 0

    # ---- the controller's side (sync, on its loop) -------------------------------------

    def offer(self, snap: StationSnapshot, now: float) -> None:
        free_vend = snap.ocpp == "none"
        self._facts = {e.evse_id: EvseFacts(e.operation_mode, free_vend) for e in snap.evses}
        self._ratings = {
            e.evse_id: Rating(e.rated_charge_w, e.rated_discharge_w) for e in snap.evses
        }
        if not self.connected:
            return  # after the (re)connect everything goes out anyway (gate reset)
        if self._discovery_due and self.cfg.ha_discovery:
            for topic, payload in discovery_messages(
                self.topics, self.cfg.ha_prefix, self.cfg.client_id, snap
            ):
                self.outbox.put_status(topic, payload)
        self._discovery_due = False
        payloads = [station_status(self.topics.station_status, snap)]
        payloads += [evse_status(self.topics.evse_status(e.evse_id), e) for e in snap.evses]
        for p in payloads:
            if self.gate.due(p, now):
                self.outbox.put_status(p.topic, p.payload)
        if len(self.outbox):
            self._wake.set()

    def _ems_changed_now(self) -> None:
        self._ems_changed.set()

    # ---- the connection ----------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        cfg = self.cfg
        will = aiomqtt.Will(self.topics.online, b"offline", qos=1, retain=True)
        return aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username,
            password=cfg.password,
            identifier=cfg.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if self._v5 else aiomqtt.ProtocolVersion.V311,
            will=will,
            keepalive=cfg.keepalive_s,
            timeout=PUBLISH_TIMEOUT_S,
            max_queued_incoming_messages=INCOMING_MAX,
            tls_context=_tls(cfg),
        )

    async def run(self) -> None:
        """Forever (a supervised part): connect, serve, and after any loss try again
        with back-off (BACKOFF_FIRST_S doubling to reconnect_max_s)."""
        delay = BACKOFF_FIRST_S
        while True:
            try:
                async with self._client() as client:
                    delay = BACKOFF_FIRST_S
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                log.warning("mqtt broker %s:%d: %s; again in %.1f s",
                            self.cfg.host, self.cfg.port, exc, delay)
            finally:
                self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2.0, self.cfg.reconnect_max_s)

    async def _session(self, client: aiomqtt.Client) -> None:
        self.connects += 1
        await client.publish(self.topics.online, b"online", qos=1, retain=True)
        await client.subscribe(self.topics.command_filter, qos=1)
        log.info("mqtt connected to %s:%d", self.cfg.host, self.cfg.port)
        self.gate.reset()  # a new session: every status again (retained may be stale)
        self._discovery_due = True
        self.connected = True
        try:
            await self._serve(client)
        except asyncio.CancelledError:
            # Stopping: say so before the clean disconnect (which sends no will).
            self.connected = False
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.publish(self.topics.online, b"offline", qos=1, retain=True,
                                     timeout=1.0)
            raise

    async def _serve(self, client: aiomqtt.Client) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._publisher(client))
                tg.create_task(self._receiver(client))
                tg.create_task(self._refresher())
        except* aiomqtt.MqttError as group:
            raise group.exceptions[0] from None

    async def _publisher(self, client: aiomqtt.Client) -> None:
        while True:
            item = self.outbox.pop()
            if item is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            # Status is retained at QoS 1; a reply at QoS 0: it is not worth a round trip
            # each (a flood's replies would otherwise queue behind PUBACKs), and an EMS
            # that misses one sends its command again.
            await client.publish(item.topic, item.payload, qos=1 if item.retain else 0,
                                 retain=item.retain, properties=self._properties(item))
            self.published += 1

    def _properties(self, item: Outgoing) -> Properties | None:
        if not self._v5 or item.correlation is None:
            return None
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.CorrelationData = item.correlation
        return props

    async def _receiver(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._on_message(message)
            await asyncio.sleep(0)  # a flood must not hold the station's loop

    def _on_message(self, message: aiomqtt.Message) -> None:
        raw = message.payload
        payload = raw if isinstance(raw, bytes) else str(raw or "").encode()
        props = message.properties
        response = getattr(props, "ResponseTopic", None) if props is not None else None
        corr = getattr(props, "CorrelationData", None) if props is not None else None
        incoming = Incoming(
            message.topic.value, payload, bool(message.retain),
            response if isinstance(response, str) and response else None,
            bytes(corr) if isinstance(corr, bytes | bytearray) else None,
        )
        out = self.handler.handle(incoming, self._facts, self._ratings, self._clock(),
                                  self._wall())
        if out is not None:
            self.outbox.put_reply(out)
            self._wake.set()

    async def _refresher(self) -> None:
        while True:
            await self._ems_changed.wait()
            self._ems_changed.clear()
            self._refresh()
            await asyncio.sleep(REFRESH_MIN_S)
