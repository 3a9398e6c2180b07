"""One EVSE's ISO 15118-20 SECC inside `evse run`: starts it when the pilot is in B (or
beyond) with 5 % duty and the data link is up (`assume_link` without a modem; with
`[slac]` the coordinator in evse/station/coordinator_runner.py says so), builds
the `StationView` each request is answered from, and carries out the session's actions.

- StationView: from the controller's latest hal measurement and grid constraint and the
  energy manager's latest request for this EVSE (already within hal's allowed range);
  nothing here waits on hal.
- StartAuthorization: the OCPP authorization path the controller already has (the id
  token presented at plug-in, a remote start, or free vend without a CSMS); the session
  sees "accepted" once OCPP authorizes, "rejected" when the presentation was refused.
- EnergyTransfer: hal's allow-power-on (only while authorized), through the controller's
  power gate: the contactor closes only after PowerDelivery Start (ISO 15118-20).
- EvNeeds: the energy manager's EV limits (each time), and OCPP NotifyEVChargingNeeds
  when the OCPP station offers `notify_ev_charging_needs`: once per session, from the
  complete needs of ScheduleExchange (ChargeParameterDiscovery has the limits only), and
  again only when they changed (renegotiation, a resumed session with new needs).
- DcCommand: to hal as `dc_command` (`d20/dc_hal.py`); hal's latest `dc_report` is the
  view's `dc` (cable check, precharge, delivery and welding detection answer from it).
- SessionEnded: power off, a DC output off, the EV's limits forgotten.
- The car's side of the session (SOC, target SOC, departure, limits, service, mode,
  stage) goes to the EVSE's view as `ev` (`ev_status.py`) for the MQTT status: from the
  actions above and each request answered; kept with stage "ended" / "paused" until the
  SECC stops (the EV left), then None.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from evse.energy.manager import EvLimits
from evse.energy.operation_modes import LOCAL_FREQUENCY
from evse.iso15118.config import IsoConfig
from evse.iso15118.d20 import dc_hal
from evse.iso15118.d20.types import (
    Action,
    DcCommand,
    EnergyTransfer,
    EvNeeds,
    EvStatus,
    SessionEnded,
    StartAuthorization,
    StationView,
)
from evse.iso15118.secc import Secc, SeccError
from evse.station.ev_needs_from_iso import ocpp_needs
from evse.station.ev_status import EvSessionStatus
from hal.protocol import DcReport, GridConstraintReport, Measurement, Message, PowerRequest

log = logging.getLogger(__name__)

DIGITAL_DUTY_PCT = 5.0  # IEC 61851-1: 5 % PWM = use digital communication
_PLUGGED = frozenset({"B", "C", "D"})
_POLL_S = 0.1  # how often the start / stop condition is looked at
_RETRY_S = 2.0  # after a failed start (the interface not up yet)
# Operation modes hal computes the power of itself, per sample (hal/unit/local_frequency.py;
# every other mode is one value per decision of evse, evse/energy/operation_modes.py).
HAL_EXECUTED_MODES = frozenset({LOCAL_FREQUENCY})


class EvseState(Protocol):
    measurement: Measurement | None
    constraint: GridConstraintReport | None
    max_charge_w: float
    max_discharge_w: float
    ev_limits: EvLimits | None
    id_status: str | None
    dc: DcReport | None
    ev: EvSessionStatus | None


class HalSender(Protocol):
    def send(self, msg: Message) -> bool: ...


class ControllerPort(Protocol):
    """What this part uses of `evse.controller.Controller`."""

    evses: Any  # dict[int, EvseView]
    free_vend: bool
    v2x: Any  # Callable[[int], bool]: OCPP Q01 allows discharge

    @property
    def hal(self) -> HalSender: ...
    @property
    def pwm_duty_pct(self) -> float: ...
    @property
    def ocpp_station(self) -> Any: ...
    def latest_request(self, evse_id: int) -> PowerRequest | None: ...
    def set_power_gate(self, evse_id: int, gate: bool, reason: str) -> None: ...
    def spawn(self, name: str, coro: Any) -> None: ...


def _asked_w(req: PowerRequest, m: Measurement | None) -> float:
    """The power the car is asked for before hal's constraint. A mode hal executes itself
    (OCPP 2.1 Q08 LocalFrequency: baseline + freq-watt curve at hal's own frequency, per
    sample) has no value in the request: the request carries the baseline only. The car
    follows hal's own setpoint then (for an AC EVSE the only path hal's frequency response
    has to the car): what hal commands while the contactor is closed, else what it would
    command (its requested_w is the mode's value before the grid functions)."""
    if req.operation_mode in HAL_EXECUTED_MODES and m is not None:
        return m.setpoint_w if m.contactor_closed else m.requested_w
    return req.setpoint_w if req.mode == "setpoint" else req.max_w


# The car's needs as sent to the CSMS: the needs with the departure as a point on
# time.monotonic() (the car sends it as seconds from now; a resumed or renegotiated
# session gives the same departure a second or two apart).
_NeedsKey = tuple[EvNeeds, float | None]
_DEPARTURE_SLACK_S = 5.0


def _needs_key(a: EvNeeds, now: float) -> _NeedsKey:
    departure = now + a.departure_time_s if a.departure_time_s else None
    return dataclasses.replace(a, departure_time_s=None), departure


def _same_needs(sent: _NeedsKey, new: _NeedsKey) -> bool:
    if sent[0] != new[0]:
        return False
    if sent[1] is None or new[1] is None:
        return sent[1] is new[1]
    return abs(sent[1] - new[1]) <= _DEPARTURE_SLACK_S


class IsoSession:
    """The SECC of one EVSE as a supervised part of the controller."""

    def __init__(self, controller: ControllerPort, cfg: IsoConfig) -> None:
        self._c = controller
        self.cfg = cfg
        self.eid = cfg.evse_id
        self.secc: Secc | None = None
        self.auth_requested = False
        self.energy_transfer = False
        self.ev_status: EvStatus | None = None
        self.dc_command: DcCommand | None = None  # the last one sent to hal
        self._needs_sent: _NeedsKey | None = None  # NotifyEVChargingNeeds of this session
        # The coordinator's hooks ([slac]): None without it (assume_link decides).
        self.link_up: bool | None = None
        self.on_energy: Callable[[bool, str], None] | None = None
        self.on_ended: Callable[[str], None] | None = None

    # ---- the SECC's StationPort ------------------------------------------------------

    def _evse(self) -> EvseState | None:
        state: EvseState | None = self._c.evses.get(self.eid)
        return state

    def _authorization(self) -> Literal["none", "pending", "accepted", "rejected"]:
        ocpp = self._c.ocpp_station
        if self._c.free_vend or (ocpp is not None and ocpp.authorized(self.eid)):
            return "accepted"
        ev = self._evse()
        if ev is not None and ev.id_status not in (None, "Accepted"):
            return "rejected"
        return "pending" if self.auth_requested else "none"

    def view(self) -> StationView:
        ev = self._evse()
        m = ev.measurement if ev else None
        c = ev.constraint if ev else None
        req = self._c.latest_request(self.eid)
        dc = ev.dc if ev else None
        target: float | None = None
        if req is not None:
            target = _asked_w(req, m)
            if c is not None:  # within hal's allowed range in force, whatever was asked
                target = min(max(target, c.p_min_w), c.p_max_w)
        return StationView(
            epoch_s=int(time.time()),
            authorization=self._authorization(),
            may_discharge=bool(ev and ev.max_discharge_w > 0 and self._c.v2x(self.eid)),
            target_w=target,
            min_w=c.p_min_w if c else None,
            max_w=c.p_max_w if c else None,
            present_w=m.active_w if m else None,
            present_v=m.voltage_v[0] if m and m.voltage_v else None,
            energy_in_wh=m.import_wh if m and m.energy_valid else None,
            energy_out_wh=m.export_wh if m and m.energy_valid else None,
            contactor_closed=bool(m and m.contactor_closed),
            grid_state=c.state if c else "normal",
            dc=dc_hal.from_report(dc) if dc is not None else None,
        )

    def _answered(self, request: str, _elapsed_s: float) -> None:
        """The SECC answered a request: the session runs, in this stage."""
        ev = self._evse()
        if ev is not None:
            if request == "supportedAppProtocolReq" or ev.ev is None:
                ev.ev = EvSessionStatus()  # a new connection (a resumed one starts afresh)
            ev.ev = ev.ev.answered(request)

    def _ev_status(self, a: EvNeeds | EvStatus | SessionEnded) -> None:
        ev = self._evse()
        if ev is None:
            return
        now = ev.ev if ev.ev is not None else EvSessionStatus()
        if isinstance(a, EvNeeds):
            ev.ev = now.needs(a, time.time())
        elif isinstance(a, EvStatus):
            ev.ev = now.loop(a, time.time())
        elif ev.ev is not None:  # a session that never answered anything leaves nothing
            ev.ev = now.ended(a.reason, a.paused)

    def act(self, actions: tuple[Action, ...]) -> None:
        for a in actions:
            if isinstance(a, EvNeeds | EvStatus | SessionEnded):
                self._ev_status(a)
            if isinstance(a, StartAuthorization):
                self.auth_requested = True
                log.info("evse %d: ISO 15118 %s authorization asked", self.eid, a.method)
            elif isinstance(a, EnergyTransfer):
                self._energy(a)
            elif isinstance(a, EvNeeds):
                self._ev_needs(a)
            elif isinstance(a, EvStatus):
                self.ev_status = a
            elif isinstance(a, DcCommand):
                self._dc(a)
            elif isinstance(a, SessionEnded):
                self._ended(a)

    def _energy(self, a: EnergyTransfer) -> None:
        on = a.start and not a.standby and self._authorization() == "accepted"
        self.energy_transfer = on
        reason = "ISO 15118 PowerDelivery " + ("Start" if on else "Stop/Standby")
        self._gate(on, reason)

    def _gate(self, on: bool, reason: str) -> None:
        if self.on_energy is not None:
            self.on_energy(on, reason)  # the coordinator decides with the pilot state
        else:
            self._c.set_power_gate(self.eid, on, reason)

    def _dc(self, a: DcCommand) -> None:
        """The stage gets it at once; its result comes back in hal's next dc_report."""
        self.dc_command = a
        self._c.hal.send(dc_hal.to_hal(self.eid, a))

    def _ev_needs(self, a: EvNeeds) -> None:
        ev = self._evse()
        if ev is not None:  # the car's limits, never above the unit's
            ev.ev_limits = EvLimits(
                min(ev.max_charge_w, a.limits.max_charge_w),
                min(ev.max_discharge_w, a.limits.max_discharge_w),
            )
        notify = getattr(self._c.ocpp_station, "notify_ev_charging_needs", None)
        if notify is None or not a.complete:
            return  # ChargeParameterDiscovery: the limits alone; ScheduleExchange completes them
        key = _needs_key(a, time.monotonic())
        if self._needs_sent is not None and _same_needs(self._needs_sent, key):
            return  # K15 / K17: once per session; again only when the car's needs changed
        self._needs_sent = key
        sc = self.cfg.secc  # K15 / Q01: the CSMS hears what the car needs
        needs = ocpp_needs(a, sc.services, sc.limits.phases, datetime.now(UTC))
        try:
            notify(self.eid, needs)
        except ValueError as exc:  # refused by the schema: logged, the session goes on
            log.error("evse %d: NotifyEVChargingNeeds not sent: %s", self.eid, exc)

    def _ended(self, a: SessionEnded) -> None:
        log.info("evse %d: ISO 15118 session ended (%s)", self.eid, a.reason)
        if self.energy_transfer:
            self._gate(False, f"ISO 15118 session ended: {a.reason}")
        self.energy_transfer = False
        self.auth_requested = False
        if not a.paused:  # a paused session resumes as the same one: its needs stay sent
            self._needs_sent = None
        if self.dc_command is not None and self.dc_command.kind != "off":
            self._dc(DcCommand("off"))  # safety: no voltage stays on a cable nobody uses
        self.dc_command = None
        ev = self._evse()
        if ev is not None:
            ev.ev_limits = None
        if self.on_ended is not None:
            self.on_ended(a.reason)

    # ---- life ------------------------------------------------------------------------

    def wanted(self) -> bool:
        """IEC 61851-1: 5 % duty and an EV connected, and the data link up."""
        ev = self._evse()
        cp = ev.measurement.cp_state if ev and ev.measurement else "A"
        if self.link_up is not None:  # SLAC: the coordinator brought the data link up
            return self.link_up and cp in _PLUGGED
        return (
            self.cfg.assume_link
            and abs(self._c.pwm_duty_pct - DIGITAL_DUTY_PCT) < 0.5
            and cp in _PLUGGED
        )

    async def run(self) -> None:
        retry_at = 0.0
        try:
            while True:
                want = self.wanted()
                if want and self.secc is None and time.monotonic() >= retry_at:
                    secc = Secc(self.cfg.secc, self.cfg.transport, self,
                                on_response=self._answered)
                    try:
                        await secc.start()
                        self.secc = secc
                    except (SeccError, OSError) as exc:
                        log.warning("evse %d: SECC not started: %s", self.eid, exc)
                        retry_at = time.monotonic() + _RETRY_S
                elif not want and self.secc is not None:
                    log.info("evse %d: EV gone, SECC stops", self.eid)
                    await self._stop_secc()
                await asyncio.sleep(_POLL_S)
        finally:
            await self._stop_secc()

    async def _stop_secc(self) -> None:
        secc, self.secc = self.secc, None
        if secc is not None:
            await secc.stop()
        self._needs_sent = None  # the EV left: the next car's needs are new
        if self.energy_transfer or self.auth_requested:
            self._ended(SessionEnded("secc_stopped"))
        ev = self._evse()
        if ev is not None:  # the EV left: the next one's id token is presented afresh
            ev.id_status = None
            ev.ev = None
