"""One EVSE's protection path: grid sample from the MCU -> grid engine -> contactor
command to the MCU, once per sample, in this EVSE's own task (`run`).

Why this shape: VDE-AR-N 4105 U>> must clear in 0.1 s, so nothing slow may sit between
the sample and the contactor. The path awaits the MCU alone: each EVSE has its own sample
task (a hung MCU delays only its EVSE; the daemon stops hal, safe, if one dies); the power
stage (`StageIo`), the meter (`MeterIo`), the lock, RCD self-test and MCU trip settings
(`McuAux`) and the stage's protection push (daemon) run beside it and hand over values (a
stage state too old is a fault); faults are reported once (`FaultBook`).

Safety rules per sample: any fault but the meter's (device, stage status, RCD, MCU flags,
contactor feedback, missing grid samples) or a grid trip opens the contactor at once and
sets power to zero. A normal opening (evse's allow off, keep-alive loss) commands 0 W
first and opens when |P| < `open_below_w`, or after `open_wait_s` anyway (reported). Power
flows only while the contactor is commanded and confirmed closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hal.config import EvseUnitConfig
from hal.devices.base import DeviceError, DeviceSet, McuState, PowerStageState
from hal.grid.engine import GridDecision, GridEngine
from hal.protocol import (
    FAULT_CONTACTOR,
    FAULT_GRID_SAMPLE,
    FAULT_MCU_FLAGS,
    FAULT_RCD,
    FAULT_STAGE_STATUS,
    AllowPowerOn,
    Event,
    GridConstraintReport,
    Message,
    PilotCommand,
    PowerRequest,
)
from hal.unit.contactor import POWER_CP_STATES, ContactorWatch
from hal.unit.faults import FaultBook
from hal.unit.local_frequency import LocalFrequency
from hal.unit.mcu_aux import McuAux, mcu_trip_for
from hal.unit.meter_io import MeterIo
from hal.unit.reports import Reporter
from hal.unit.stage_io import StageIo

log = logging.getLogger("hal.unit")
T = TypeVar("T")

_X1 = 100.0  # PWM off, +12 V: no energy offered (IEC 61851-1)
_STATE_F = 0.0  # -12 V: EVSE not available


@dataclass(frozen=True, slots=True)
class UnitTimings:
    period_s: float = 0.02
    open_below_w: float = 200.0
    open_wait_s: float = 1.0
    contactor_confirm_s: float = 0.5
    ac_x1_wait_s: float = 6.0
    nominal_v: float = 230.0
    nominal_hz: float = 50.0
    local_frequency_hold_s: float = 0.0  # LocalFrequency runs on this long when evse is silent


class UnitLoop:
    def __init__(
        self,
        unit: EvseUnitConfig,
        devices: DeviceSet,
        engine: GridEngine,
        publish: Callable[[Message], None],
        *,
        command_timeout_s: float,
        ramp_down_s: float,
        report_period_s: float,
        timings: UnitTimings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unit = unit
        self.dev = devices
        self.engine = engine
        self._publish = publish
        self._timeout = command_timeout_s
        self.t = timings or UnitTimings()
        self._clock = clock
        full = max(unit.max_charge_w, unit.max_discharge_w)
        self._ramp_w_per_s = full / ramp_down_s if ramp_down_s > 0 else float("inf")
        self.faults = FaultBook(unit.id, self._event)
        self.contactor = ContactorWatch(self.t.contactor_confirm_s)
        self.stage_io = StageIo(
            devices.stage, clock, timeout_s=command_timeout_s, period_s=self.t.period_s
        )
        self.meter_io = MeterIo(devices.meter, clock, timeout_s=command_timeout_s)
        self.aux = McuAux(
            unit.id,
            devices.mcu,
            clock,
            lambda: mcu_trip_for(unit, engine.controls, self.t.nominal_v, self.t.nominal_hz),
            timeout_s=command_timeout_s,
        )
        self.reporter = Reporter(
            unit.id, publish, report_period_s=report_period_s, constraint_step_w=0.01 * full
        )
        # evse's wishes
        self.requested_w = 0.0
        self.allow = False
        self.pwm_pct = _X1  # until evse asks for PWM
        self.link_ok = False
        self.local_freq: LocalFrequency | None = None  # Q08: executed here, per sample
        self._lf_until = -1.0  # evse silent: LocalFrequency runs on until then
        # what hal does
        self.effective_w = 0.0
        self.setpoint_w = 0.0
        self.last_mcu: McuState | None = None
        self.last_decision: GridDecision | None = None
        self.rcd_selftest_failed: str | None = None
        self.stopping = False
        self.last_tick_end = clock()
        self.overruns = 0
        self._pwm_sent: float | None = None
        self._contactor_cmd: bool | None = None
        self._opening_since: float | None = None
        self._link_lost_t: float | None = None
        self._prev_t: float | None = None

    # ---- requests from evse --------------------------------------------------------

    def on_power_request(self, msg: PowerRequest) -> None:
        """Raises ProtocolError (and changes nothing) when it cannot be executed."""
        self.local_freq = LocalFrequency.from_request(msg)
        lo, hi = sorted((msg.min_w, msg.max_w))
        wish = msg.setpoint_w if msg.mode == "setpoint" else hi
        self.requested_w = min(max(wish, lo), hi) if msg.mode == "limits" else wish
        self.link_ok = True
        self._link_lost_t = None

    def on_pilot(self, msg: PilotCommand) -> None:
        self.pwm_pct = min(max(msg.duty_pct, 0.0), 100.0)

    def on_allow(self, msg: AllowPowerOn) -> None:
        self.allow = msg.allow
        if msg.allow:
            self.contactor.rearm()  # evse asks again: try the contactor again
        log.info("evse %d: allow power on = %s (%s)", self.unit.id, msg.allow, msg.reason)

    def on_link_lost(self) -> None:
        """evse went silent: ramp to zero and hold until evse asks again. AC: the pilot
        goes to X1 at once, so the car stops drawing before the contactor opens."""
        self.link_ok = False
        self.requested_w = 0.0
        # Q08/Q11: frequency support continues for a while (DC; AC stops, see below).
        hold = self.local_freq is not None and self.unit.kind == "dc"
        self._lf_until = self._clock() + self.t.local_frequency_hold_s if hold else -1.0
        if hold:
            log.warning("evse %d: LocalFrequency runs on for the hold first", self.unit.id)
        if self.unit.kind == "ac":
            self.pwm_pct = _X1

    def request_lock(self, locked: bool, reply: Callable[[Message], None]) -> None:
        self.aux.request_lock(locked, reply)

    # ---- the sample ----------------------------------------------------------------

    async def _mcu(self, aw: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(aw, self._timeout)
        except TimeoutError:
            raise DeviceError(
                self.dev.mcu.name, f"no answer within {self._timeout:.3f} s"
            ) from None

    async def run(self) -> None:
        """The sample task: one tick per period, on a deadline (a late tick is not
        followed by a burst; the overrun is counted)."""
        period = self.t.period_s
        deadline = self._clock()
        while True:
            await self.tick(self._clock())
            end = self._clock()
            self.last_tick_end = end
            deadline += period
            delay = deadline - end
            if delay < 0:
                self.overruns += 1
                deadline = end
                delay = 0.0
            await asyncio.sleep(delay)

    async def tick(self, now: float) -> None:
        dt = 0.0 if self._prev_t is None else max(0.0, now - self._prev_t)
        self._prev_t = now
        try:
            mcu = await self._mcu(self.dev.mcu.read_state())
        except DeviceError as exc:
            await self._mcu_fault(exc, now)
            return
        if self.dev.mcu.name in self.faults.active:
            self._pwm_sent = None  # re-assert what we want: the MCU may have reset
            self._contactor_cmd = None
            self.faults.clear(self.dev.mcu.name, now)
        self.reporter.changes(self.last_mcu, mcu, self._event)
        self.last_mcu = mcu
        stage = self.stage_io.state
        self._conditions(now, mcu, stage)
        self._follow_request(now, dt, mcu)

        decision = self.engine.step(
            now, mcu.grid, self.effective_w, stage.active_w if stage else 0.0
        )
        self.last_decision = decision
        self.faults.update(FAULT_GRID_SAMPLE, decision.blind_reason, now)
        self.reporter.alarms(decision.alarms, self._event)
        reason = self.contactor.check(now, self._contactor_cmd, mcu)
        if self.contactor.take_reassert():
            self._contactor_cmd = None  # the close command goes out again this sample
        self.faults.update(FAULT_CONTACTOR, reason, now)

        meter = self.dev.meter.name
        trip = not decision.contactor_allowed or self.faults.any(exclude=(meter,))
        pilot_ok = mcu.cp_state in POWER_CP_STATES
        want_closed = self.allow and pilot_ok and not trip and not self.stopping
        flowing = (
            want_closed
            and self._contactor_cmd is True
            and mcu.contactor_closed
            and meter not in self.faults.active
        )
        self.setpoint_w = decision.setpoint_w if flowing else 0.0
        self.stage_io.command(self.setpoint_w, decision.reactive_var if flowing else 0.0)
        duty = _STATE_F if FAULT_CONTACTOR in self.faults.active else self.pwm_pct
        try:
            await self._drive_contactor(now, want_closed, mcu, stage, self._open_reason(decision))
            if duty != self._pwm_sent:
                await self._mcu(self.dev.mcu.set_pwm(duty))
                self._pwm_sent = duty
            await self._mcu(self.dev.mcu.keepalive())
        except DeviceError as exc:
            await self._mcu_fault(exc, now)
            return
        self.reporter.constraint_changed(now, decision.constraint)
        if self.reporter.measurement_due(now):
            self.reporter.measurement(
                mcu,
                stage.active_w if stage else 0.0,
                stage.reactive_var if stage else 0.0,
                self.setpoint_w,
                self.effective_w,
                self.meter_io.reading,
                self.meter_io.error is None,
            )

    def _open_reason(self, d: GridDecision) -> str | None:
        """Why the contactor must open at once (None: a normal opening may wait)."""
        if d.blind_reason is not None:
            return "no grid sample"
        if not d.contactor_allowed:
            return "grid trip"
        others = [f for f in self.faults.active if f != self.dev.meter.name]
        if others:
            return "fault: " + ", ".join(others)
        m = self.last_mcu
        if m is not None and m.cp_state not in POWER_CP_STATES:
            return "pilot left C/D"
        if self.stopping:
            return "shutdown"
        return None

    def _conditions(self, now: float, mcu: McuState, stage: PowerStageState | None) -> None:
        """Faults hal reads from the devices' own reports, each raised and cleared once."""
        stage_err = self.stage_io.fault(now)
        self.faults.update(self.dev.stage.name, stage_err, now)
        if stage_err is None and stage is not None:
            why = ", ".join(sorted(stage.faults)) if stage.faults else None
            self.faults.update(FAULT_STAGE_STATUS, why and f"stage reports {why}", now)
        rcd = self.rcd_selftest_failed or (
            "residual-current device tripped" if mcu.rcd_tripped else None
        )
        self.faults.update(FAULT_RCD, rcd, now)
        flags = ", ".join(sorted(mcu.errors)) if mcu.errors else None
        self.faults.update(FAULT_MCU_FLAGS, flags and f"MCU reports {flags}", now)
        self.faults.update(self.dev.meter.name, self.meter_io.error, now)

    def _follow_request(self, now: float, dt: float, mcu: McuState) -> None:
        """Keep-alive loss: ramp to zero at the configured rate (never a step), then hold
        with the contactor released until evse asks again."""
        lf = self.local_freq
        if lf is not None and mcu.grid is not None and (self.link_ok or now < self._lf_until):
            self.effective_w = lf.power_at(mcu.grid.frequency_hz)  # Q08: every sample
            return
        if self.link_ok:
            self.effective_w = self.requested_w
            return
        step = self._ramp_w_per_s * dt
        self.effective_w -= max(-step, min(step, self.effective_w))
        if not self.allow:
            return
        if self.unit.kind == "ac":
            # IEC 61851-1 Annex A (Table A.6, sequence 10.2): after the EVSE switches the
            # pilot to X1 the EV has up to 6 s to stop drawing current; open once it did
            # (pilot back to B) or the time is up.
            if self._link_lost_t is None:
                self._link_lost_t = now
            done = mcu.cp_state not in POWER_CP_STATES
            if not done and now - self._link_lost_t < self.t.ac_x1_wait_s:
                return
        elif self.effective_w != 0.0:
            return
        self.allow = False
        log.warning("evse %d: evse silent, power at zero, contactor released", self.unit.id)

    async def _drive_contactor(
        self,
        now: float,
        want_closed: bool,
        mcu: McuState,
        stage: PowerStageState | None,
        at_once: str | None,
    ) -> None:
        if want_closed:
            self._opening_since = None
            if self._contactor_cmd is not True:
                await self._mcu(self.dev.mcu.set_contactor(True, "power on"))
                self._contactor_cmd = True
            return
        if self._contactor_cmd is False:
            return
        if at_once is None:
            # A normal opening: 0 W is commanded; open when the current has fallen.
            if self._opening_since is None:
                self._opening_since = now
            waited = now - self._opening_since
            fresh = stage is not None and self.stage_io.fault(now) is None
            low = not mcu.contactor_closed or (
                fresh and stage is not None and abs(stage.active_w) < self.t.open_below_w
            )
            if not low and waited < self.t.open_wait_s:
                return
            if not low:
                w = stage.active_w if stage is not None else None
                log.warning(
                    "evse %d: opening under load (%s W) after %.2f s", self.unit.id, w, waited
                )
                self._event("open_under_load", {"active_w": w, "waited_s": round(waited, 3)})
        await self._mcu(self.dev.mcu.set_contactor(False, at_once or "power off"))
        self._contactor_cmd = False
        self._opening_since = None

    async def _mcu_fault(self, exc: DeviceError, now: float) -> None:
        """The MCU failed: report once, power to zero, open as far as it still listens."""
        self.faults.set(exc.device, exc.reason, now)
        self.setpoint_w = 0.0
        self.stage_io.command(0.0, 0.0)
        self._pwm_sent = None
        try:
            await self._mcu(self.dev.mcu.set_contactor(False, f"fault: {exc.device}"))
            self._contactor_cmd = False
        except DeviceError:
            self._contactor_cmd = None  # unknown: its own keep-alive opens it

    async def shutdown(self) -> None:
        """SIGTERM path: power to zero and contactor open, both at once and each bounded
        by the command timeout (a hung device cannot hold the other back)."""
        self.stopping = True
        self.allow = False
        self.setpoint_w = 0.0
        self.stage_io.command(0.0, 0.0)

        async def zero() -> None:
            try:
                await asyncio.wait_for(self.dev.stage.set_power(0.0, 0.0), self._timeout)
            except (DeviceError, TimeoutError) as exc:
                log.error("evse %d: zero power at stop failed: %s", self.unit.id, exc)

        async def open_() -> None:
            try:
                await self._mcu(self.dev.mcu.set_contactor(False, "shutdown"))
                self._contactor_cmd = False
            except DeviceError as exc:
                log.error("evse %d: open contactor at stop failed: %s", self.unit.id, exc)

        await asyncio.gather(open_(), zero())

    # ---- reports to evse -----------------------------------------------------------

    def _event(self, kind: str, data: dict[str, object]) -> None:
        self._publish(Event(self.unit.id, kind, dict(data)))

    def constraint_report(self) -> GridConstraintReport:
        return self.reporter.report()

    def state_report(self) -> dict[str, Any]:
        """This EVSE's entry of `Welcome.state` (hal/protocol.py)."""
        return self.reporter.state_entry(
            self.last_mcu, self.allow, self.requested_w, self.link_ok, self.faults.report()
        )
