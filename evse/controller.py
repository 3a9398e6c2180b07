"""The station controller: keeps the link to hal, offers PWM, follows the power request
of the config (or of the CLI) and its schedule, keeps the latest reports from hal, and,
when the config has an `[ocpp]` section, runs the OCPP client beside it.

Power-on policy: without a CSMS every EVSE may take power (free vend); with one, only
while the OCPP side says its transaction is authorized (`allow_energy_transfer`). An
Inoperative EVSE shows state F on its pilot and never gets power.

Every long-running part (the hal link, the OCPP station) and every task it spawns runs
under `evse.supervisor.Supervisor`: a failed part is restarted with back-off, one that
keeps failing stops the process with a non-zero exit (`failed`), and the systemd
watchdog is fed only while every part is alive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from evse.api.ems_inputs import EmsSource
from evse.api.snapshot import station_snapshot
from evse.api.wiring import attach
from evse.config import StationConfig
from evse.energy.grid_meter import GridMeterView
from evse.energy.manager import EvLimits
from evse.energy.period_source import PeriodSource, SignalSource
from evse.hal_client import HalClient
from evse.ocpp.interfaces import EvPlugged, StationEvent
from evse.station.coordinator_runner import gated_evses, start_session_parts
from evse.station.energy_request import power_request
from evse.station.ev_status import EvSessionStatus
from evse.station.hal_events import HalEventTranslator
from evse.station.lock_requests import LOCK_TIMEOUT_S, LockRequests
from evse.station.ocpp_part import present_token, run_ocpp
from evse.station.status import status_line
from evse.supervisor import RestartPolicy, Supervisor
from hal.protocol import (
    AllowPowerOn,
    DcReport,
    DerDirectives,
    DirectiveResult,
    Event,
    GridConstraintReport,
    Measurement,
    Message,
    PilotCommand,
    PowerRequest,
    Welcome,
)
from hal.sdnotify import Notifier

log = logging.getLogger(__name__)



class OcppStationLike(Protocol):
    """The part of evse.ocpp.station.OcppStation the controller uses."""

    connected: asyncio.Event  # set while a booted connection to the CSMS is up

    def notify(self, event: StationEvent) -> None: ...
    def authorized(self, evse_id: int) -> bool: ...
    async def present_id_token(self, evse_id: int, id_token: dict[str, Any]) -> dict[str, Any]: ...
    async def run(self) -> None: ...


@dataclass
class EvseView:
    """What the controller knows of one EVSE, from hal's reports."""

    evse_id: int
    max_charge_w: float = 0.0
    max_discharge_w: float = 0.0
    measurement: Measurement | None = None
    constraint: GridConstraintReport | None = None
    events: list[Event] = field(default_factory=list)
    allowed: bool = False
    operative: bool = True
    ev_limits: EvLimits | None = None  # the car's, from its ISO 15118 session
    id_status: str | None = None  # the last id token presentation's answer
    gate: bool = True  # the coordinator's / SECC's power-on condition (ANDed with allowed)
    duty_pct: float | None = None  # the coordinator's pilot duty; None: the config's
    session: str | None = None  # the coordinator's iso15118 / basic / none; None: none
    dc: DcReport | None = None  # hal's DC output, for the SECC (iso_session.py)
    ev: EvSessionStatus | None = None  # the car's -20 session (iso_session.py), for status


class Controller:
    def __init__(
        self,
        cfg: StationConfig,
        request_w: float | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        policy: RestartPolicy | None = None,
        period_source: PeriodSource | None = None,
        signal_source: SignalSource | None = None,
        may_discharge: Callable[[int], bool] = lambda _: False,
        ems_source: EmsSource | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.notifier = notifier or Notifier()
        self.request_w = cfg.controller.request_w if request_w is None else request_w
        # A request given on the command line wins over the config's schedule.
        self._schedule = list(cfg.controller.schedule) if request_w is None else []
        self.evses: dict[int, EvseView] = {}
        self.directive_results: list[DirectiveResult] = []
        self.free_vend = cfg.ocpp is None
        self.restart_requested = False
        self._stop: asyncio.Event | None = None
        self.restart_policy = policy  # None: the supervisor's defaults
        self.supervisor: Supervisor | None = None
        self._translator = HalEventTranslator()
        self._gated = gated_evses(cfg)  # no power before the SECC / pilot says so
        self._ocpp: OcppStationLike | None = None
        # The charging-schedule period in force per EVSE (OCPP section Q); the OCPP
        # station is one when it implements it. None: the config's request.
        self.period_source = period_source
        self.signal_source = signal_source  # aFRR (Q08): the OCPP station's AFRRSignal
        self.v2x: Callable[[int], bool] = may_discharge  # Q01: the OCPP side's, once it runs
        # ISO 15118-20 EVSEs: power only between PowerDelivery Start and Stop (iso_session)
        self._sent_request: dict[int, PowerRequest] = {}
        self._link_stop = asyncio.Event()  # the hal link outlives `stop` by the last words
        self._locks = LockRequests()
        self._der: list[dict[str, Any]] | None = None  # the DER set in force (OCPP R04)
        self.grid_meter = GridMeterView()  # hal's grid meter: LocalLoadBalancing (Q09)
        self.hal = HalClient(
            cfg.hal.socket_path,
            "evse-controller",
            cfg.controller.keepalive_interval_s,
            self._on_message,
            self._on_connect,
        )
        self.ems_source = ems_source  # the local EMS's setpoint / limits (Q05/Q06)
        self.api = attach(self)  # [mqtt]: the local API (evse/api/), else None

    @property
    def failed(self) -> str | None:
        """Why supervision gave up (the process must exit non-zero), or None."""
        return self.supervisor.failure if self.supervisor is not None else None

    # ---- hal -> us -----------------------------------------------------------------

    def _on_connect(self, welcome: Welcome) -> None:
        for cap in welcome.evses:
            eid = int(cap["evse_id"])
            view = self.evses.get(eid)
            if view is None:
                view = self.evses[eid] = self._fresh(eid)
            view.max_charge_w = float(cap["max_charge_w"])
            view.max_discharge_w = float(cap["max_discharge_w"])
            self._translator.set_rating(eid, max(view.max_charge_w, view.max_discharge_w))
        # The state in force (pilot, contactor, faults, grid): a restarted evse rebuilds
        # its view from it, since hal reports the pilot and contactor only on change.
        known, hist = set(self.evses), welcome.alarm_history  # R05: alarm edges missed
        for snap in self._translator.sync_welcome(welcome.state, known, hist):
            if snap.constraint is not None:
                self.evses[snap.evse_id].constraint = snap.constraint
            for event in snap.events:
                self._station_event(event)
        if self._der is not None:
            self.hal.send(DerDirectives(self._der))  # R04: the whole set after every connect
        slac = self.cfg.slac
        if self.hal.connects > 1 and slac is not None and slac.evse_id in self.evses:
            # A new hal, or the link back: the coordinator restarts the plug-in (ISO 15118-3
            # through F); no power is assumed on before its new session's PowerDelivery.
            self.evses[slac.evse_id].gate = False
        self._send_state("controller (re)connected")

    def _send_state(self, reason: str, evse_id: int | None = None) -> None:
        """Everything hal must know from us, sent whole: after every (re)connect, and when
        hal reports our keep-alive back after it timed out (it then holds power at zero
        until asked again)."""
        for eid in self.evses:
            if evse_id is None or eid == evse_id:
                self._send_pilot_and_allow(eid, reason)
                self._send_request(eid)

    def _send_pilot_and_allow(self, eid: int, reason: str) -> None:
        view = self.evses[eid]
        duty = self.cfg.controller.pwm_duty_pct if view.duty_pct is None else view.duty_pct
        self.hal.send(PilotCommand(eid, duty if view.operative else 0.0))  # 0 % = state F
        on = view.allowed and view.operative and view.gate
        self.hal.send(AllowPowerOn(eid, on, reason))

    def _request(self, eid: int) -> PowerRequest:
        """The energy manager's request for the period in force, else the config's."""
        return power_request(self, eid)

    def _send_request(self, eid: int) -> None:
        self._sent_request[eid] = req = self._request(eid)
        self.hal.send(req)

    def _refresh_requests(self) -> None:
        """Periods start and end, and their inputs move: send what changed."""
        if self.period_source is None or not self.hal.connected.is_set():
            return
        for eid in self.evses:
            if self._request(eid) != self._sent_request.get(eid):
                self._send_request(eid)

    def _on_message(self, msg: Message) -> None:
        if self._locks.on_reply(msg) or self.grid_meter.on_message(msg, self.clock(), self._powers):
            return
        evse_id = getattr(msg, "evse_id", None)
        if isinstance(evse_id, int) and evse_id not in self.evses:
            # Not an EVSE hal announced: nothing of ours may act on it.
            log.warning("hal %s for unknown EVSE %d ignored", msg.TYPE, evse_id)
            return
        for event in self._translator.feed(msg):
            self._station_event(event)
        if isinstance(msg, Measurement):
            self.evses[msg.evse_id].measurement = msg
        elif isinstance(msg, GridConstraintReport):
            self.evses[msg.evse_id].constraint = msg
        elif isinstance(msg, DcReport):
            self.evses[msg.evse_id].dc = msg
        elif isinstance(msg, Event):
            view = self.evses[msg.evse_id]
            view.events.append(msg)
            del view.events[:-100]
            warn = msg.kind in ("fault", "der_alarm", "keepalive_lost")
            level = logging.WARNING if warn else logging.INFO
            log.log(level, "evse %d event %s %s", msg.evse_id, msg.kind, msg.data)
            if msg.kind == "keepalive_restored":
                self._send_state("keep-alive restored", msg.evse_id)
        elif isinstance(msg, DirectiveResult):
            self.directive_results.append(msg)
            del self.directive_results[:-100]
            for rej in msg.rejected:  # R04: the value checks beyond OCPP's rules are hal's
                log.error("hal refused DER control %s: %s", rej.get("id"), rej.get("reason"))

    def _powers(self) -> dict[int, float]:
        return {e: v.measurement.active_w for e, v in self.evses.items() if v.measurement}

    def _fresh(self, eid: int) -> EvseView:
        return EvseView(eid, allowed=self.free_vend, gate=eid not in self._gated)

    def _view(self, eid: int) -> EvseView:
        return self.evses.setdefault(eid, self._fresh(eid))

    def _station_event(self, event: StationEvent) -> None:
        ocpp = self._ocpp
        if ocpp is None:
            return
        ocpp.notify(event)
        token = self.cfg.controller.id_token
        if isinstance(event, EvPlugged) and token is not None:
            self.spawn(f"present-token-{event.evse_id}", self._present(event.evse_id, token))

    async def _present(self, evse_id: int, token: str) -> None:
        await present_token(self, evse_id, token)

    def spawn(self, name: str, coro: Any) -> None:
        """A task the controller owns: supervised, awaited (or cancelled) at stop."""
        if self.supervisor is None:
            coro.close()
            return
        self.supervisor.spawn(name, coro)
    # ---- what the OCPP side asks of the station (StationActions) ------------------------

    def latest_measurement(self, evse_id: int) -> Measurement | None:
        view = self.evses.get(evse_id)
        return view.measurement if view else None

    def set_allowed(self, evse_id: int, allowed: bool, reason: str) -> None:
        view = self._view(evse_id)
        view.allowed = allowed
        self._send_pilot_and_allow(evse_id, reason)

    def set_power_gate(
        self, evse_id: int, gate: bool, reason: str, duty_pct: float | None = None
    ) -> None:
        """The coordinator / SECC: power-on condition and pilot duty (None: unchanged)."""
        view = self._view(evse_id)
        view.gate, view.duty_pct = gate, view.duty_pct if duty_pct is None else duty_pct
        self._send_pilot_and_allow(evse_id, reason)

    def set_operative(self, evse_id: int | None, operative: bool) -> None:
        for eid, view in self.evses.items():
            if evse_id is None or eid == evse_id:
                view.operative = operative
                self._send_pilot_and_allow(eid, "operative" if operative else "inoperative")

    async def lock_connector(self, evse_id: int, locked: bool) -> bool:
        """F05: ask hal to (un)lock; True once the MCU confirmed."""
        if evse_id not in self.evses:
            return False
        return await self._locks.request(evse_id, locked, self.hal.send, LOCK_TIMEOUT_S)

    def set_der_directives(self, directives: list[dict[str, Any]]) -> None:
        self._der = directives
        self.hal.send(DerDirectives(directives))

    def request_restart(self) -> None:
        self.restart_requested = True
        if self._stop is not None:
            self._stop.set()

    # ---- us -> hal -----------------------------------------------------------------

    def set_request(self, watts: float) -> None:
        self.request_w = watts
        log.info("power request now %.0f W", watts)
        for eid in self.evses:
            self._send_request(eid)

    def status_line(self, t: float) -> str:
        return status_line(self.evses.values(), self.request_w, t)

    # ---- what the ISO 15118 SECC reads (evse/station/iso_session.py) -----------------

    pwm_duty_pct = property(lambda self: self.cfg.controller.pwm_duty_pct)
    ocpp_station = property(lambda self: self._ocpp)

    def latest_request(self, evse_id: int) -> PowerRequest | None:
        return self._sent_request.get(evse_id)

    async def run(
        self, stop: asyncio.Event, on_status: Callable[[str], None] | None = None
    ) -> None:
        start = self.clock()
        self._stop = stop
        sup = self.supervisor = Supervisor(self.restart_policy, on_fatal=stop.set)
        sup.start("hal-link", lambda: self.hal.run(self._link_stop))
        if self.cfg.ocpp is not None:
            self.cfg.controller.state_dir.mkdir(parents=True, exist_ok=True)
            sup.start("ocpp", self._run_ocpp)
        start_session_parts(self, sup)  # the SECCs and the [slac] coordinator
        if self.api is not None:
            sup.start("mqtt", self.api.run)
        try:
            connected = asyncio.create_task(self.hal.connected.wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({connected, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for t in (connected, stopped):
                t.cancel()
            await asyncio.gather(connected, stopped, return_exceptions=True)
            if not stop.is_set():
                self.notifier.ready("connected to hal")
            await self._main_loop(stop, start, on_status)
        finally:
            self.notifier.stopping()
            # Leave hal in a defined state: no power wanted, contactor released.
            for eid in self.evses:
                self.hal.send(PowerRequest(eid, "setpoint", 0.0, 0.0, 0.0))
                self.hal.send(AllowPowerOn(eid, False, "controller stopping"))
            await asyncio.sleep(0.05)  # let the writes reach the socket
            stop.set()
            self._link_stop.set()
            await sup.stop()

    async def _run_ocpp(self) -> None:
        await run_ocpp(self)

    async def _main_loop(
        self, stop: asyncio.Event, start: float, on_status: Callable[[str], None] | None
    ) -> None:
        tick = 0.1
        next_status = start
        next_wd = start
        wd = self.notifier.watchdog_interval_s
        while not stop.is_set():
            now = self.clock()
            while self._schedule and now - start >= self._schedule[0].at_s:
                self.set_request(self._schedule.pop(0).request_w)
            self._refresh_requests()
            if self.api is not None:  # hand the API a snapshot; it never awaits us
                self.api.offer(station_snapshot(self, self.api, now - start, now), now)
            if now >= next_status:
                next_status += self.cfg.controller.status_period_s
                line = self.status_line(now - start)
                if on_status is not None:
                    on_status(line)
                else:
                    log.info("%s", line)
            sup = self.supervisor
            if wd is not None and now >= next_wd and sup is not None and sup.healthy():
                # This loop turning and every supervised part alive is our health.
                next_wd = now + wd
                self.notifier.watchdog()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
