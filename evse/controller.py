"""The station controller as it stands before the energy manager exists: it keeps the
link to hal, offers PWM and allows power on for every EVSE, follows the power request of
the config (or of the CLI) and its schedule, and keeps the latest reports from hal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from evse.config import StationConfig
from evse.hal_client import HalClient
from hal.protocol import (
    AllowPowerOn,
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


@dataclass
class EvseView:
    """What the controller knows of one EVSE, from hal's reports."""

    evse_id: int
    max_charge_w: float = 0.0
    max_discharge_w: float = 0.0
    measurement: Measurement | None = None
    constraint: GridConstraintReport | None = None
    events: list[Event] = field(default_factory=list)


class Controller:
    def __init__(
        self,
        cfg: StationConfig,
        request_w: float | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.notifier = notifier or Notifier()
        self.request_w = cfg.controller.request_w if request_w is None else request_w
        # A request given on the command line wins over the config's schedule.
        self._schedule = list(cfg.controller.schedule) if request_w is None else []
        self.evses: dict[int, EvseView] = {}
        self.directive_results: list[DirectiveResult] = []
        self.hal = HalClient(
            cfg.hal.socket_path,
            "evse-controller",
            cfg.controller.keepalive_interval_s,
            self._on_message,
            self._on_connect,
        )

    # ---- hal -> us -----------------------------------------------------------------

    def _on_connect(self, welcome: Welcome) -> None:
        for cap in welcome.evses:
            view = self.evses.setdefault(int(cap["evse_id"]), EvseView(int(cap["evse_id"])))
            view.max_charge_w = float(cap["max_charge_w"])
            view.max_discharge_w = float(cap["max_discharge_w"])
        self._send_state()

    def _send_state(self) -> None:
        """Everything hal must know from us: sent whole after every (re)connect."""
        duty = self.cfg.controller.pwm_duty_pct
        for eid in self.evses:
            self.hal.send(PilotCommand(eid, duty))
            self.hal.send(AllowPowerOn(eid, True, "controller: fixed request"))
            self._send_request(eid)

    def _send_request(self, eid: int) -> None:
        w = self.request_w
        self.hal.send(PowerRequest(eid, "setpoint", w, min(w, 0.0), max(w, 0.0)))

    def _on_message(self, msg: Message) -> None:
        if isinstance(msg, Measurement):
            self._view(msg.evse_id).measurement = msg
        elif isinstance(msg, GridConstraintReport):
            self._view(msg.evse_id).constraint = msg
        elif isinstance(msg, Event):
            view = self._view(msg.evse_id)
            view.events.append(msg)
            del view.events[:-100]
            warn = msg.kind in ("fault", "der_alarm", "keepalive_lost")
            level = logging.WARNING if warn else logging.INFO
            log.log(level, "evse %d event %s %s", msg.evse_id, msg.kind, msg.data)
        elif isinstance(msg, DirectiveResult):
            self.directive_results.append(msg)

    def _view(self, eid: int) -> EvseView:
        return self.evses.setdefault(eid, EvseView(eid))

    # ---- us -> hal -----------------------------------------------------------------

    def set_request(self, watts: float) -> None:
        self.request_w = watts
        log.info("power request now %.0f W", watts)
        for eid in self.evses:
            self._send_request(eid)

    def status_line(self, t: float) -> str:
        parts = [f"t={t:6.1f}s"]
        for view in self.evses.values():
            m, c = view.measurement, view.constraint
            if m is None:
                parts.append(f"EVSE{view.evse_id} waiting for hal")
                continue
            volts = "/".join(f"{v:.1f}" for v in m.voltage_v)
            parts.append(f"grid {volts} V {m.frequency_hz:.3f} Hz")
            parts.append(
                f"EVSE{view.evse_id} CP {m.cp_state} {'closed' if m.contactor_closed else 'open'}"
            )
            parts.append(
                f"req {self.request_w:.0f} W set {m.setpoint_w:.0f} W act {m.active_w:.0f} W"
            )
            parts.append(f"imp {m.import_wh / 1000:.3f} kWh exp {m.export_wh / 1000:.3f} kWh")
            parts.append(f"grid-state {c.state if c else '?'}")
        return " | ".join(parts)

    async def run(
        self, stop: asyncio.Event, on_status: Callable[[str], None] | None = None
    ) -> None:
        start = self.clock()
        hal_task = asyncio.create_task(self.hal.run(stop), name="hal-client")
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
            await hal_task

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
            if now >= next_status:
                next_status += self.cfg.controller.status_period_s
                line = self.status_line(now - start)
                if on_status is not None:
                    on_status(line)
                else:
                    log.info("%s", line)
            if wd is not None and now >= next_wd:
                next_wd = now + wd
                self.notifier.watchdog()  # this loop turning is our health
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
