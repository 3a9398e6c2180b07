"""The hal daemon (`evse hal --config FILE`): owns the devices, runs the sample loop at a
fixed period, serves the contract, persists accepted DER directives, supervises evse's
keep-alive, and talks to systemd.

Start order: open devices -> restore directives -> RCD self-test -> one sample per EVSE
-> listen -> READY=1. Each EVSE runs its own tasks (hal/unit: the sample task and the
stage, meter and MCU-aux tasks beside it); the daemon adds keep-alive supervision, the
stage protection push and the watchdog, and supervises them all: a task that ends or
dies while hal runs is a bug, so hal goes safe and exits non-zero (systemd restarts it).
Stop (SIGTERM/SIGINT): the sample tasks end, power to zero and contactors open (bounded
by `hal.stop_safe_s`, not waiting for any other task) -> STOPPING=1 -> tidy up -> exit 0.
The loops never wait on a client: replies and reports go through per-connection queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from hal.alarm_history import AlarmHistory
from hal.config import HalConfig
from hal.devices.backoff import Backoff
from hal.devices.base import DeviceError
from hal.devices.factory import OpenDevices, open_devices
from hal.devices.protection_settings import protection_settings
from hal.directive_writer import DirectiveWriter
from hal.grid.directives import directive_id
from hal.grid.engine import GridEngine
from hal.persist import load_directives
from hal.protocol import (
    E_NOT_CONTROLLER,
    E_REJECTED,
    E_UNKNOWN_EVSE,
    PROTOCOL_VERSION,
    ROLE_CONTROLLER,
    Ack,
    AllowPowerOn,
    ConnectorLock,
    DcCommand,
    DerDirectives,
    Error,
    Event,
    KeepAlive,
    Message,
    PilotCommand,
    PowerRequest,
    ProtocolError,
    Welcome,
)
from hal.sdnotify import Notifier
from hal.server import Connection, Server
from hal.sim.control import serve_control
from hal.unit import UnitLoop, UnitTimings
from hal.unit.dc_io import DcUnits
from hal.unit.grid_meter_io import grid_meter_tasks

log = logging.getLogger(__name__)

_PROTECTION_PERIOD_S = 1.0  # how often the stage's own protection is compared
_PROTECTION_PUSH_TIMEOUTS = 20  # a push is ~20 Modbus writes: budget in command timeouts
_PROTECTION_REFRESH_S = 60.0  # re-push even unchanged settings (a stage may forget them)
_COMMANDS = (PowerRequest, PilotCommand, AllowPowerOn, DerDirectives, ConnectorLock, DcCommand)
_PROTECTION_BACKOFF = (2.0, 2.0, 120.0)  # a refused push: retry after 2, 4, ... 120 s


class HalDaemon:
    def __init__(
        self, cfg: HalConfig, notifier: Notifier, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cfg = cfg
        self.notifier = notifier
        self.clock = clock
        self.server = Server(self, cfg.max_clients)
        self.devices: OpenDevices | None = None
        self.units: dict[int, UnitLoop] = {}
        self.last_seen = float("-inf")  # last message from the controller (evse)
        self.link_alive = False
        # Directive sets are stored by their own task: the disk is never in the read path.
        self.directives = DirectiveWriter(
            cfg.directives_path,
            cfg.grid.nominal_frequency_hz,
            lambda: [u.engine for u in self.units.values()],
            clock,
        )
        self.alarm_history = AlarmHistory(cfg.state_dir / "der-alarm-history.cbor")  # R05
        self._started = clock()
        self._safe = False  # the stop path made the hardware safe
        self.dc = DcUnits()  # DC outputs (ISO 15118-20 DC), beside the protection path

    # ---- contract handler ----------------------------------------------------------

    def welcome(self, conn: Connection) -> list[Message]:
        """The handshake answer, then the state in force (no waiting for the next report)."""
        caps = [
            {
                "evse_id": u.unit.id,
                "kind": u.unit.kind,
                "max_charge_w": u.unit.max_charge_w,
                "max_discharge_w": u.unit.max_discharge_w,
                "max_var": u.unit.max_var,
                "phases": u.unit.phases,
            }
            for u in self.units.values()
        ]
        first = next(iter(self.units.values()), None)
        ids = [directive_id(d) for d in first.engine.directives] if first else []
        state, hist = [u.state_report() for u in self.units.values()], self.alarm_history.entries()
        out: list[Message] = [Welcome(PROTOCOL_VERSION, caps, ids, state, conn.role, hist)]
        out.extend(u.constraint_report() for u in self.units.values())
        return out

    def handle(self, conn: Connection, msg: Message) -> list[Message]:
        if conn.role != ROLE_CONTROLLER:
            # Observers read; only the controller commands, and only its messages count
            # as evse being alive (else a diagnostics tool would keep a dead evse's power).
            if isinstance(msg, KeepAlive):
                return []
            if isinstance(msg, _COMMANDS):
                why = f"{msg.TYPE} needs the controller role; this connection observes"
                return [Error(E_NOT_CONTROLLER, why, msg.TYPE)]
            return [Error(E_REJECTED, f"{msg.TYPE} is not a request", msg.TYPE)]
        self._seen()
        if isinstance(msg, KeepAlive):
            return []
        if isinstance(msg, DerDirectives):
            refused = self.directives.submit(conn, msg)  # answered once stored (or not)
            return [refused] if refused is not None else []
        if isinstance(msg, ConnectorLock):
            lock_unit = self.units.get(msg.evse_id)
            if lock_unit is None:
                return [Error(E_UNKNOWN_EVSE, f"no EVSE {msg.evse_id}", msg.TYPE)]
            lock_unit.request_lock(msg.locked, conn.send)  # ack / error when the MCU answers
            return []
        if isinstance(msg, DcCommand):
            return self.dc.handle(msg, msg.evse_id in self.units)
        if isinstance(msg, PowerRequest | PilotCommand | AllowPowerOn):
            unit = self.units.get(msg.evse_id)
            if unit is None:
                return [Error(E_UNKNOWN_EVSE, f"no EVSE {msg.evse_id}", msg.TYPE)]
            if isinstance(msg, PowerRequest):
                if msg.mode not in ("setpoint", "limits"):
                    return [Error(E_REJECTED, f"mode {msg.mode!r}", msg.TYPE)]
                try:
                    unit.on_power_request(msg)
                except ProtocolError as exc:  # refused whole; the previous request stays
                    return [Error(exc.code, exc.detail, msg.TYPE)]
            elif isinstance(msg, PilotCommand):
                unit.on_pilot(msg)
            else:
                unit.on_allow(msg)
            return [Ack(msg.TYPE, msg.evse_id)]
        # A hal -> evse message sent the wrong way round.
        return [Error(E_REJECTED, f"{msg.TYPE} is not a request", msg.TYPE)]

    def _seen(self) -> None:
        self.last_seen = self.clock()
        if not self.link_alive:
            self.link_alive = True
            log.info("evse keep-alive present")
            for u in self.units.values():
                self.server.broadcast(Event(u.unit.id, "keepalive_restored", {}))

    # ---- the loops -----------------------------------------------------------------

    def _supervise_keepalive(self, now: float) -> None:
        if self.link_alive and now - self.last_seen > self.cfg.keepalive_timeout_s:
            self.link_alive = False
            log.warning("evse silent for %.1f s: ramping to zero", now - self.last_seen)
            for u in self.units.values():
                u.on_link_lost()
                self.server.broadcast(Event(u.unit.id, "keepalive_lost", {}))

    @property
    def last_tick_end(self) -> float:
        """When the slowest EVSE last finished a sample (the watchdog's health signal)."""
        return min((u.last_tick_end for u in self.units.values()), default=self._started)

    @property
    def overruns(self) -> int:
        return sum(u.overruns for u in self.units.values())

    async def _keepalive_loop(self) -> None:
        """evse's keep-alive, checked every sample period (no device I/O here)."""
        while True:
            self._supervise_keepalive(self.clock())
            await asyncio.sleep(self.cfg.period_s)

    async def _protection_loop(self) -> None:
        """Keep each power stage's own protection equal to the grid controls in force, so
        a stage that protects by itself (a SunSpec inverter) still does when hal is gone.
        Pushed when they change (config at start, DER directives later), after the stage
        was in fault (it may come back with its settings lost), and refreshed now and then.
        Its own, lower-priority traffic: the driver sends it on the stage's settings lane
        (its own Modbus back-off, so a slow settings write never fails a state read), and
        a refused push is retried with back-off, not every second. hal's own protection
        runs regardless."""
        pushed: dict[int, tuple[dict[str, Any], float]] = {}  # evse id -> (settings, when)
        retry: dict[int, Backoff] = {u: Backoff(*_PROTECTION_BACKOFF) for u in self.units}
        nominal = self.cfg.grid.nominal_frequency_hz
        budget = _PROTECTION_PUSH_TIMEOUTS * self.cfg.devices.command_timeout_s
        while True:
            for u in self.units.values():
                if u.dev.stage.name in u.faults.active:
                    pushed.pop(u.unit.id, None)
                    continue
                want = protection_settings(u.engine.controls, nominal)
                last = pushed.get(u.unit.id)
                now = self.clock()
                if last and last[0] == want and now - last[1] < _PROTECTION_REFRESH_S:
                    continue
                backoff = retry[u.unit.id]
                if not backoff.due(now):
                    continue
                try:
                    await asyncio.wait_for(u.dev.stage.push_protection(want), budget)
                except (DeviceError, TimeoutError) as exc:
                    backoff.failed(now)
                    if backoff.failures == 1:  # once, not every retry
                        why = exc.reason if isinstance(exc, DeviceError) else "took too long"
                        log.warning("evse %d: stage protection not pushed: %s", u.unit.id, why)
                    continue
                backoff.succeeded()
                pushed[u.unit.id] = (want, self.clock())
                log.info(
                    "evse %d: stage protection settings pushed (%s)",
                    u.unit.id,
                    ", ".join(sorted(want)) or "none",
                )
            await asyncio.sleep(_PROTECTION_PERIOD_S)

    async def _watchdog_loop(self, stop: asyncio.Event) -> None:
        interval = self.notifier.watchdog_interval_s
        if interval is None:
            return
        # A sample that waits on a failing MCU takes up to two command timeouts.
        healthy_within = max(1.0, 10 * self.cfg.period_s, 3 * self.cfg.devices.command_timeout_s)
        while not stop.is_set():
            if self.clock() - self.last_tick_end < healthy_within:
                self.notifier.watchdog()
            else:
                log.error("sample loop stalled: withholding the watchdog ping")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    # ---- lifecycle -----------------------------------------------------------------

    def _timings(self) -> UnitTimings:
        c = self.cfg
        return UnitTimings(
            period_s=c.period_s,
            open_below_w=c.open_below_w,
            open_wait_s=c.open_wait_s,
            contactor_confirm_s=c.contactor_confirm_s,
            ac_x1_wait_s=c.ac_x1_wait_s,
            local_frequency_hold_s=c.local_frequency_hold_s,
            nominal_v=c.grid.nominal_voltage_v,
            nominal_hz=c.grid.nominal_frequency_hz,
        )

    def _build_units(self) -> None:
        cfg = self.cfg
        assert self.devices is not None
        restored = load_directives(cfg.directives_path)
        for unit_cfg in cfg.evses:
            ds = self.devices.sets[unit_cfg.id]
            engine = GridEngine(ds.stage.rating, cfg.grid, sample_grace=cfg.grid_sample_grace)
            for r in engine.set_directives(restored, self.clock()):
                log.error("restored directive %s refused: %s", r.directive_id, r.reason)
            self.units[unit_cfg.id] = UnitLoop(
                unit_cfg,
                ds,
                engine,
                self.server.broadcast,
                command_timeout_s=cfg.devices.command_timeout_s,
                ramp_down_s=cfg.ramp_down_s,
                report_period_s=cfg.report_period_s,
                timings=self._timings(),
                clock=self.clock,
            )
            self.units[unit_cfg.id].reporter.history = self.alarm_history
            if ds.dc is not None:  # a DC output: its own task, like the stage's
                self.dc.add(unit_cfg.id, ds.dc, cfg, self.server.broadcast,
                            lambda: self.link_alive, self.clock)
        log.info("restored %d DER directive(s)", len(restored))

    async def _first_sample(self) -> None:
        """RCD self-test (the contactors are open), then one full sample per EVSE before
        anyone may connect."""
        units = list(self.units.values())
        results = await asyncio.gather(*(u.aux.rcd_selftest() for u in units))
        for u, failed in zip(units, results, strict=True):
            u.rcd_selftest_failed = failed
        for u in units:
            await u.stage_io.step()
            await u.tick(self.clock())

    async def _make_safe(self) -> None:
        """Power to zero and contactors open on every EVSE at once, bounded."""
        if self._safe:
            return
        self._safe = True
        try:
            await asyncio.wait_for(
                asyncio.gather(*(u.shutdown() for u in self.units.values())),
                self.cfg.stop_safe_s,
            )
        except TimeoutError:
            log.error("safe state not confirmed within %.1f s", self.cfg.stop_safe_s)

    async def _supervise(self, stop: asyncio.Event) -> int:
        """Run every long-lived task; return 0 on stop, 1 if a task ended or died."""
        tasks: list[asyncio.Task[None]] = []
        for u in self.units.values():
            i = u.unit.id
            tasks += [
                asyncio.create_task(u.run(), name=f"sample-{i}"),
                asyncio.create_task(u.stage_io.run(), name=f"stage-{i}"),
                asyncio.create_task(u.meter_io.run(), name=f"meter-{i}"),
                asyncio.create_task(u.aux.run(), name=f"mcu-aux-{i}"),
            ]
        tasks += self.dc.tasks()
        tasks += [
            asyncio.create_task(self._keepalive_loop(), name="keepalive"),
            asyncio.create_task(self._protection_loop(), name="protection-push"),
            asyncio.create_task(self.directives.run(stop), name="directive-writer"),
            asyncio.create_task(self.alarm_history.run(), name="alarm-history"),
        ]
        meter = self.devices.grid_meter if self.devices else None  # LocalLoadBalancing (Q09)
        tasks += grid_meter_tasks(self.cfg, meter, self.server.broadcast, self.clock)
        world = self.devices.world if self.devices else None
        if world is not None and self.cfg.sim is not None and self.cfg.sim.control_socket:
            tasks.append(asyncio.create_task(  # runtime commands for the simulated world
                serve_control(self.cfg.sim.control_socket, world, self.clock), name="sim-control"))
        if self.notifier.watchdog_interval_s is not None:
            tasks.append(asyncio.create_task(self._watchdog_loop(stop), name="watchdog"))
        stopped = asyncio.create_task(stop.wait(), name="stop")
        rc = 0
        try:
            done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is stopped or (stop.is_set() and not t.cancelled() and t.exception() is None):
                    continue  # a task that let go because we stop (the directive writer)
                rc = 1
                exc = t.exception() if not t.cancelled() else None
                log.critical("task %s ended (%r): going safe and exiting", t.get_name(), exc)
        finally:
            # The sample tasks first: once they are gone nothing closes a contactor again.
            sample = [t for t in tasks if t.get_name().startswith("sample-")]
            await _cancel(sample)
            await self._make_safe()
            await _cancel([t for t in tasks if t not in sample] + [stopped])
        return rc

    async def run(self, stop: asyncio.Event) -> int:
        cfg = self.cfg
        self.devices = await open_devices(cfg, self.clock)
        rc = 0
        try:
            self._build_units()
            await self._first_sample()
            cfg.socket_path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(cfg.socket_path)
            await self.server.start(str(cfg.socket_path))
            os.chmod(cfg.socket_path, 0o660)
            self.notifier.ready(f"serving {cfg.socket_path}")
            log.info("hal ready on %s (period %.0f ms)", cfg.socket_path, cfg.period_s * 1000)
            rc = await self._supervise(stop)
        finally:
            # Stopping, or a failure at start: the hardware safe before anything else (a
            # no-op when _supervise already did it).
            await self._make_safe()
            self.notifier.stopping()
            log.info("power at zero, contactors open; stopping (overruns: %d)", self.overruns)
            await self.server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(cfg.socket_path)
            try:
                await asyncio.wait_for(self.devices.close(), self.cfg.stop_safe_s)
            except TimeoutError:
                log.error("devices not closed within %.1f s", self.cfg.stop_safe_s)
        return rc


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel and reap; a task's own failure was logged by _supervise already. Cancelled
    again until it ends: on Python 3.11 `wait_for` can swallow a cancellation that lands
    as its inner await completes, and the loop in that task would carry on."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for t in tasks:
        if not t.cancelled():
            t.exception()  # retrieved: already reported, no "never retrieved" noise


async def serve(cfg: HalConfig, notifier: Notifier | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await HalDaemon(cfg, notifier or Notifier()).run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
