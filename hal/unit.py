"""One EVSE as the hal loop drives it: evse's wishes in, one decision per sample out.

Per sample (`tick`): read MCU and power stage -> report changes -> ramp the request if
evse went silent -> ask the grid engine -> contactor -> setpoint. Safety first: any
device fault sets power to zero and opens the contactor; power flows only while the
contactor is confirmed closed; opening always zeroes the setpoint first (no breaking
under load) except when the grid engine demands a trip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from hal.config import EvseUnitConfig
from hal.devices.base import CpState, DeviceError, DeviceSet, McuState, MeterReading
from hal.grid.engine import GridConstraint, GridDecision, GridEngine, GridState
from hal.protocol import (
    AllowPowerOn,
    Event,
    GridConstraintReport,
    Measurement,
    Message,
    PilotCommand,
    PowerRequest,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_POWER_CP_STATES = (CpState.C, CpState.D)
_CONSTRAINT_REFRESH_S = 1.0


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
    ) -> None:
        self.unit = unit
        self.dev = devices
        self.engine = engine
        self._publish = publish
        self._timeout = command_timeout_s
        full = max(unit.max_charge_w, unit.max_discharge_w)
        self._ramp_w_per_s = full / ramp_down_s if ramp_down_s > 0 else float("inf")
        self._report_period_s = report_period_s
        self._constraint_step_w = 0.01 * full
        # evse's wishes
        self.requested_w = 0.0
        self.allow = False
        self.pwm_pct = 100.0  # X1 until evse asks for PWM
        # what hal does
        self.effective_w = 0.0
        self.link_ok = False
        self.fault: str | None = None
        self.last_mcu: McuState | None = None
        self.last_meter: MeterReading | None = None
        self.meter_fault: str | None = None  # set by the meter poll: no energy while set
        self.last_decision: GridDecision | None = None
        self.setpoint_w = 0.0
        self._pwm_sent: float | None = None
        self._contactor_cmd: bool | None = None
        self._last_report = float("-inf")
        self._last_constraint: tuple[GridConstraint, float] | None = None
        self._prev_t: float | None = None

    # ---- requests from evse --------------------------------------------------------

    def on_power_request(self, msg: PowerRequest) -> None:
        lo, hi = sorted((msg.min_w, msg.max_w))
        wish = msg.setpoint_w if msg.mode == "setpoint" else hi
        self.requested_w = min(max(wish, lo), hi) if msg.mode == "limits" else wish
        self.link_ok = True

    def on_pilot(self, msg: PilotCommand) -> None:
        self.pwm_pct = min(max(msg.duty_pct, 0.0), 100.0)

    def on_allow(self, msg: AllowPowerOn) -> None:
        self.allow = msg.allow
        log.info("evse %d: allow power on = %s (%s)", self.unit.id, msg.allow, msg.reason)

    def on_link_lost(self) -> None:
        """evse went silent: ramp to zero and hold until evse asks again."""
        self.link_ok = False
        self.requested_w = 0.0

    # ---- the sample ----------------------------------------------------------------

    async def _io(self, what: str, aw: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(aw, self._timeout)
        except TimeoutError:
            raise DeviceError(what, f"no answer within {self._timeout:.3f} s") from None

    async def tick(self, now: float) -> None:
        dt = 0.0 if self._prev_t is None else max(0.0, now - self._prev_t)
        self._prev_t = now
        try:
            mcu = await self._io(self.dev.mcu.name, self.dev.mcu.read_state())
            stage = await self._io(self.dev.stage.name, self.dev.stage.read_state())
        except DeviceError as exc:
            await self._go_safe(exc)
            return
        if self.fault is not None:
            self._event("fault_cleared", {"device": self.fault})
            log.warning("evse %d: device fault cleared (%s)", self.unit.id, self.fault)
            self.fault = None
            self._contactor_cmd = None  # re-assert the wanted state
            self._pwm_sent = None
        self._report_changes(mcu)
        self.last_mcu = mcu

        # Keep-alive loss: ramp to zero at the configured rate (never a step).
        if self.link_ok:
            self.effective_w = self.requested_w
        else:
            step = self._ramp_w_per_s * dt
            self.effective_w -= max(-step, min(step, self.effective_w))
            if self.effective_w == 0.0 and self.allow:
                self.allow = False  # held at zero: open until evse asks again
                log.warning("evse %d: evse silent, power at zero, contactor released", self.unit.id)

        decision = self.engine.step(now, mcu.grid, self.effective_w, stage.active_w)
        self.last_decision = decision
        for alarm in decision.alarms:
            kind = "der_alarm_ended" if alarm.ended else "der_alarm"
            self._event(
                kind,
                {
                    "controlType": alarm.control_type,
                    "gridEventFault": alarm.grid_event_fault,
                    "extraInfo": alarm.extra_info,
                },
            )

        want_closed = (
            self.allow
            and mcu.cp_state in _POWER_CP_STATES
            and decision.contactor_allowed
            and not mcu.errors
            and not mcu.rcd_tripped
        )
        try:
            if self._pwm_sent != self.pwm_pct:
                await self._io(self.dev.mcu.name, self.dev.mcu.set_pwm(self.pwm_pct))
                self._pwm_sent = self.pwm_pct
            if want_closed != self._contactor_cmd:
                await self._switch(want_closed, decision.contactor_allowed)
            flowing = want_closed and mcu.contactor_closed and self.meter_fault is None
            self.setpoint_w = decision.setpoint_w if flowing else 0.0
            q = decision.reactive_var if flowing else 0.0
            await self._io(self.dev.stage.name, self.dev.stage.set_power(self.setpoint_w, q))
            await self._io(self.dev.mcu.name, self.dev.mcu.keepalive())
        except DeviceError as exc:
            await self._go_safe(exc)
            return
        self._report_constraint(now, decision.constraint)
        if now - self._last_report >= self._report_period_s:
            self._last_report = now
            self._report_measurement(mcu, stage.active_w, stage.reactive_var)

    async def _switch(self, close: bool, grid_ok: bool) -> None:
        if not close and grid_ok:
            # Normal opening: bring the current to zero first.
            await self._io(self.dev.stage.name, self.dev.stage.set_power(0.0, 0.0))
        elif not close:
            # A trip: open at once, zero the stage right after.
            await self._io(self.dev.mcu.name, self.dev.mcu.set_contactor(False, "grid trip"))
            await self._io(self.dev.stage.name, self.dev.stage.set_power(0.0, 0.0))
            self._contactor_cmd = False
            return
        reason = "power on" if close else "power off"
        await self._io(self.dev.mcu.name, self.dev.mcu.set_contactor(close, reason))
        self._contactor_cmd = close

    async def _go_safe(self, exc: DeviceError) -> None:
        """A device fault: report it once, then power to zero and contactor open."""
        if self.fault != exc.device:
            log.error("evse %d: device fault: %s", self.unit.id, exc)
            self._event("fault", {"device": exc.device, "reason": exc.reason})
        self.fault = exc.device
        await self._zero_and_open(f"fault: {exc.device}")

    async def shutdown(self) -> None:
        """SIGTERM path: power to zero, contactor open."""
        self.allow = False
        await self._zero_and_open("shutdown")

    async def _zero_and_open(self, reason: str) -> None:
        """As far as the devices still listen; a failing command does not stop the next."""
        self.setpoint_w = 0.0
        self._contactor_cmd = None
        try:
            await self._io(self.dev.stage.name, self.dev.stage.set_power(0.0, 0.0))
        except DeviceError as exc:
            log.error("evse %d: zero power failed (%s): %s", self.unit.id, reason, exc)
        try:
            await self._io(self.dev.mcu.name, self.dev.mcu.set_contactor(False, reason))
        except DeviceError as exc:
            log.error("evse %d: open contactor failed (%s): %s", self.unit.id, reason, exc)

    # ---- reports to evse -----------------------------------------------------------

    def _event(self, kind: str, data: dict[str, object]) -> None:
        self._publish(Event(self.unit.id, kind, dict(data)))

    def _report_changes(self, mcu: McuState) -> None:
        prev = self.last_mcu
        if prev is None or prev.cp_state != mcu.cp_state:
            self._event(
                "cp_state",
                {
                    "state": mcu.cp_state.value,
                    "previous": prev.cp_state.value if prev else None,
                    "pp_ampacity_a": mcu.pp_ampacity_a,
                },
            )
        if prev is None or prev.contactor_closed != mcu.contactor_closed:
            self._event("contactor", {"closed": mcu.contactor_closed})

    def constraint_report(self) -> GridConstraintReport:
        d = self.last_decision
        c = d.constraint if d else GridConstraint(GridState.TRIPPED, 0.0, 0.0, 0.0)
        return GridConstraintReport(self.unit.id, c.state.value, c.p_min_w, c.p_max_w, c.q_var)

    def _report_constraint(self, now: float, c: GridConstraint) -> None:
        """At once on a state change or a move of more than 1 % of rating (a droop ramp
        moves the range a little every sample); otherwise refreshed once a second."""
        last = self._last_constraint
        if last is not None:
            prev, t = last
            moved = max(
                abs(prev.p_min_w - c.p_min_w),
                abs(prev.p_max_w - c.p_max_w),
                abs(prev.q_var - c.q_var),
            )
            significant = prev.state != c.state or moved > self._constraint_step_w
            if not significant and now - t < _CONSTRAINT_REFRESH_S:
                return
        self._last_constraint = (c, now)
        self._publish(self.constraint_report())

    def _report_measurement(self, mcu: McuState, active_w: float, reactive_var: float) -> None:
        grid = mcu.grid
        meter = self.last_meter
        self._publish(
            Measurement(
                evse_id=self.unit.id,
                voltage_v=list(grid.voltage_v) if grid else [],
                frequency_hz=grid.frequency_hz if grid else 0.0,
                active_w=active_w,
                reactive_var=reactive_var,
                setpoint_w=self.setpoint_w,
                requested_w=self.effective_w,
                import_wh=meter.import_wh if meter else 0.0,
                export_wh=meter.export_wh if meter else 0.0,
                cp_state=mcu.cp_state.value,
                contactor_closed=mcu.contactor_closed,
                energy_valid=meter is not None and self.meter_fault is None,
            )
        )
