"""The hal daemon (`evse hal --config FILE`): owns the devices, runs the sample loop at a
fixed period, serves the contract, persists accepted DER directives, supervises evse's
keep-alive, and talks to systemd.

Start order: open devices -> restore directives -> one good sample -> listen -> READY=1.
Stop (SIGTERM/SIGINT): power to zero, contactors open -> STOPPING=1 -> close -> exit 0.
The loop never waits on a client: replies and reports go through per-connection queues.
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

from hal.config import HalConfig
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
    DerDirectives,
    Error,
    Event,
    KeepAlive,
    Message,
    PilotCommand,
    PowerRequest,
    Welcome,
)
from hal.sdnotify import Notifier
from hal.server import Connection, Server
from hal.unit import UnitLoop

log = logging.getLogger(__name__)

_METER_PERIOD_S = 1.0  # meters refresh their registers about once a second
_PROTECTION_PERIOD_S = 1.0  # how often the stage's own protection is compared and pushed
_PROTECTION_PUSH_TIMEOUTS = 20  # a push is ~20 Modbus writes: budget in command timeouts
_PROTECTION_REFRESH_S = 60.0  # re-push even unchanged settings (a stage may forget them)
_COMMANDS = (PowerRequest, PilotCommand, AllowPowerOn, DerDirectives, ConnectorLock)


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
        self.last_tick_end = clock()
        self.overruns = 0
        # Directive sets are stored by their own task: the disk is never in the read path.
        self.directives = DirectiveWriter(
            cfg.directives_path,
            cfg.grid.nominal_frequency_hz,
            lambda: [u.engine for u in self.units.values()],
            clock,
        )

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
        out: list[Message] = [Welcome(PROTOCOL_VERSION, caps, ids, self._state(), conn.role)]
        out.extend(u.constraint_report() for u in self.units.values())
        return out

    def _state(self) -> list[dict[str, Any]]:
        """The state in force per EVSE, for a (re)connecting evse (minimal fill; the
        hal-side branch owns the full one)."""
        out: list[dict[str, Any]] = []
        for u in self.units.values():
            mcu, c = u.last_mcu, u.constraint_report()
            faults = [f for f in (u.fault, u.meter_fault) if f is not None]
            entry: dict[str, Any] = {
                "evse_id": u.unit.id,
                "allow": u.allow,
                "requested_w": u.effective_w,
                "keepalive_ok": self.link_alive,
                "faults": [{"device": f, "reason": ""} for f in faults],
                "grid": {"state": c.state, "p_min_w": c.p_min_w, "p_max_w": c.p_max_w,
                         "q_var": c.q_var},
            }
            if mcu is not None:
                entry.update(
                    cp_state=mcu.cp_state.value,
                    pp_ampacity_a=mcu.pp_ampacity_a,
                    contactor_closed=mcu.contactor_closed,
                )
            out.append(entry)
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
            return [Error(E_REJECTED, "connector_lock is not wired to the MCU yet", msg.TYPE)]
        if isinstance(msg, PowerRequest | PilotCommand | AllowPowerOn):
            unit = self.units.get(msg.evse_id)
            if unit is None:
                return [Error(E_UNKNOWN_EVSE, f"no EVSE {msg.evse_id}", msg.TYPE)]
            if isinstance(msg, PowerRequest):
                if msg.mode not in ("setpoint", "limits"):
                    return [Error(E_REJECTED, f"mode {msg.mode!r}", msg.TYPE)]
                unit.on_power_request(msg)
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

    async def _sample_loop(self, stop: asyncio.Event) -> None:
        period = self.cfg.period_s
        deadline = self.clock()
        while not stop.is_set():
            now = self.clock()
            self._supervise_keepalive(now)
            for u in self.units.values():
                await u.tick(now)
            self.last_tick_end = self.clock()
            deadline += period
            delay = deadline - self.last_tick_end
            if delay < 0:
                self.overruns += 1
                deadline = self.last_tick_end  # skip missed samples, do not burst
                delay = 0.0
            await asyncio.sleep(delay)

    async def _meter_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for u in self.units.values():
                name = u.dev.meter.name
                try:
                    u.last_meter = await asyncio.wait_for(
                        u.dev.meter.read(), self.cfg.devices.command_timeout_s
                    )
                except (DeviceError, TimeoutError) as exc:
                    # Any device fault means power to zero; the meter is not protection-
                    # relevant (protection uses the MCU's fast measurement), so the
                    # contactor stays closed and energy resumes when the meter answers.
                    log.warning("evse %d: meter read failed: %s", u.unit.id, exc)
                    if u.meter_fault is None:
                        u.meter_fault = name
                        reason = exc.reason if isinstance(exc, DeviceError) else "no answer"
                        self.server.broadcast(
                            Event(u.unit.id, "fault", {"device": name, "reason": reason})
                        )
                    continue
                if u.meter_fault is not None:
                    u.meter_fault = None
                    self.server.broadcast(Event(u.unit.id, "fault_cleared", {"device": name}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _METER_PERIOD_S)

    async def _protection_loop(self, stop: asyncio.Event) -> None:
        """Keep each power stage's own protection equal to the grid controls in force, so
        a stage that protects by itself (a SunSpec inverter) still does when hal is gone.
        Pushed when they change (config at start, DER directives later), after the stage
        was in fault (it may come back with its settings lost), and refreshed now and then;
        retried while the stage does not take them. hal's own protection runs regardless."""
        pushed: dict[int, tuple[dict[str, Any], float]] = {}  # evse id -> (settings, when)
        nominal = self.cfg.grid.nominal_frequency_hz
        budget = _PROTECTION_PUSH_TIMEOUTS * self.cfg.devices.command_timeout_s
        while not stop.is_set():
            for u in self.units.values():
                if u.fault == u.dev.stage.name:
                    pushed.pop(u.unit.id, None)
                    continue
                want = protection_settings(u.engine.controls, nominal)
                last = pushed.get(u.unit.id)
                if last and last[0] == want and self.clock() - last[1] < _PROTECTION_REFRESH_S:
                    continue
                try:
                    await asyncio.wait_for(u.dev.stage.push_protection(want), budget)
                except (DeviceError, TimeoutError) as exc:
                    log.warning("evse %d: stage protection settings not pushed: %s", u.unit.id, exc)
                    continue
                pushed[u.unit.id] = (want, self.clock())
                log.info(
                    "evse %d: stage protection settings pushed (%s)",
                    u.unit.id,
                    ", ".join(sorted(want)) or "none",
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _PROTECTION_PERIOD_S)

    async def _watchdog_loop(self, stop: asyncio.Event) -> None:
        interval = self.notifier.watchdog_interval_s
        if interval is None:
            return
        healthy_within = max(1.0, 10 * self.cfg.period_s)
        while not stop.is_set():
            if self.clock() - self.last_tick_end < healthy_within:
                self.notifier.watchdog()
            else:
                log.error("sample loop stalled: withholding the watchdog ping")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    # ---- lifecycle -----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        cfg = self.cfg
        self.devices = await open_devices(cfg, self.clock)
        try:
            restored = load_directives(cfg.directives_path)
            for unit_cfg in cfg.evses:
                ds = self.devices.sets[unit_cfg.id]
                engine = GridEngine(ds.stage.rating, cfg.grid)
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
                )
            log.info("restored %d DER directive(s)", len(restored))
            for u in self.units.values():  # one full sample before anyone may connect
                await u.tick(self.clock())
            cfg.socket_path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(cfg.socket_path)
            await self.server.start(str(cfg.socket_path))
            os.chmod(cfg.socket_path, 0o660)
            self.notifier.ready(f"serving {cfg.socket_path}")
            log.info("hal ready on %s (period %.0f ms)", cfg.socket_path, cfg.period_s * 1000)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._sample_loop(stop), name="sample-loop")
                tg.create_task(self._meter_loop(stop), name="meter-loop")
                tg.create_task(self._protection_loop(stop), name="protection-push")
                tg.create_task(self._watchdog_loop(stop), name="watchdog")
                tg.create_task(self.directives.run(stop), name="directive-writer")
        finally:
            # Stopping, or a bug in a loop: make the hardware safe before anything else.
            for u in self.units.values():
                await u.shutdown()
            self.notifier.stopping()
            log.info("power at zero, contactors open; stopping (overruns: %d)", self.overruns)
            await self.server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(cfg.socket_path)
            await self.devices.close()
        return 0


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
