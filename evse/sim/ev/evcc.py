"""Our EV's ISO 15118-20 session (EVCC side) as a sans-IO state machine.

`start()` gives the first request; `on_response()` takes each decoded response and gives
the next request (`Send`, possibly after a delay) or the end (`Done`); `on_timeout()` is
called by the adapter when a response did not come within `Send.timeout_s`. Time is
passed in (`now`, monotonic seconds; `epoch` for the header TimeStamp).

Order (-20 clause 8.8, as open implementations run it): supportedAppProtocol,
SessionSetup, AuthorizationSetup, Authorization (EIM; repeated while Ongoing),
ServiceDiscovery, ServiceDetail, ServiceSelection, {AC,DC}_ChargeParameterDiscovery,
ScheduleExchange (repeated while Ongoing), DC only: CableCheck and PreCharge loops,
PowerDelivery(Start), ChargeLoop..., PowerDelivery(Stop), DC only: WeldingDetection,
SessionStop. A resumed session (SessionSetup with the old id answered
OK_OldSessionJoined) goes straight to ChargeParameterDiscovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from evse.iso15118.d20.rational import to_float
from evse.sim.ev import requests as rq
from evse.sim.ev.battery import Battery
from evse.sim.ev.config import CONTROL_MODE_IDS, SERVICE_IDS, EvConfig

# EV message timeouts (s): -20 / open implementations: 2 s default, ServiceDetail 5 s,
# ChargeLoop 0.5 s. Ongoing phases are bounded separately (`_ONGOING_LIMIT_S`).
_TIMEOUT_S = {"ServiceDetailReq": 5.0, "AC_ChargeLoopReq": 0.5, "DC_ChargeLoopReq": 0.5}
_DEFAULT_TIMEOUT_S = 2.0
_ONGOING_LIMIT_S = {"AuthorizationReq": 180.0, "ScheduleExchangeReq": 60.0,
                    "DC_CableCheckReq": 40.0, "DC_PreChargeReq": 10.0}
_RETRY_S = 0.25  # pause before repeating a request answered Ongoing

StopKind = Literal["Pause", "Terminate", "ServiceRenegotiation"]


@dataclass(frozen=True, slots=True)
class Send:
    namespace: str
    name: str
    message: Any
    timeout_s: float
    delay_s: float = 0.0  # wait this long before sending (loop pacing, Ongoing retries)


@dataclass(frozen=True, slots=True)
class Done:
    outcome: Literal["terminated", "paused", "failed"]
    reason: str


Step = Send | Done


@dataclass(slots=True)
class LoopRecord:
    """One ChargeLoop answer as the EV understood it (tests and the summary read these)."""

    t_s: float
    present_w: float  # the SECC's present power (+ into the car)
    target_w: float | None  # the SECC's target (Dynamic / AC); None when not sent
    soc: float


@dataclass(slots=True)
class Evcc:
    cfg: EvConfig
    battery: Battery
    t0: float  # when the EV started (script time zero), monotonic
    resume_id: bytes | None = None  # SessionID of a paused session to resume
    pause_done: bool = False  # the script's pause already happened (before a resume)
    sid: bytes = b"\x00" * 8
    evseid: str = ""
    expect: str = ""
    resumed: bool = False
    tuple_id: int | None = None
    schedule_charge_w: float | None = None  # Scheduled: the chosen tuple's first entry
    schedule_discharge_w: float | None = None
    evse_max_charge_w: float | None = None
    evse_max_discharge_w: float | None = None
    applied_w: float = 0.0  # what the EV draws (+) or gives (-) now
    stop_kind: StopKind = "Terminate"
    end_reason: str = ""
    failed: bool = False
    loops: list[LoopRecord] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    _ongoing_since: float | None = None
    _last_loop_at: float | None = None
    _precharge_finished: bool = False
    _welding_finished: bool = False
    _progress: str = ""
    _discharging: bool = False
    stop_requested: bool = False  # the driver leaves: end charging at the next loop

    # --- the adapter's entry points --------------------------------------------------

    def start(self, now: float) -> Send:
        return self._send(rq.sap(self.cfg), now)

    def on_timeout(self, now: float) -> Done:
        return Done("failed", f"no {self.expect} within its timeout")

    def on_response(self, name: str, msg: Any, now: float, epoch: int) -> Step:
        if name != self.expect:
            return Done("failed", f"sequence: got {name}, expected {self.expect}")
        code = getattr(msg, "ResponseCode", "OK")
        if code.startswith(("FAILED", "Failed")):
            return Done("failed", f"{name}: {code}")  # the SECC ends the session
        handler = getattr(self, f"_on_{name}")
        step: Step = handler(msg, now, epoch)
        return step

    # --- helpers -----------------------------------------------------------------------

    def t(self, now: float) -> float:
        return now - self.t0

    def departure_in(self, now: float) -> int:
        return max(0, round(self.cfg.departure_s - self.t(now)))

    def _send(self, req: rq.Request, now: float, delay_s: float = 0.0) -> Send:
        ns, name, message = req
        self.expect = name[:-3] + "Res"
        self.sent.append(name)
        timeout = _TIMEOUT_S.get(name, _DEFAULT_TIMEOUT_S) * self.cfg.timeout_scale
        return Send(ns, name, message, timeout, delay_s)

    def _ongoing(self, req: rq.Request, now: float, epoch: int) -> Step:
        """Repeat `req` after an Ongoing answer, within the phase's limit."""
        if self._ongoing_since is None:
            self._ongoing_since = now
        if now - self._ongoing_since > _ONGOING_LIMIT_S.get(req[1], 60.0):
            return self._stop("Terminate", now, epoch, f"{req[1]}: still Ongoing", failed=True)
        return self._send(req, now, _RETRY_S)

    def _finished_phase(self) -> None:
        self._ongoing_since = None

    def _stop(self, kind: StopKind, now: float, epoch: int, reason: str,
              failed: bool = False) -> Send:
        """SessionStop now (no energy flowing: before PowerDelivery or after its Stop)."""
        self.stop_kind = kind
        self.end_reason = self.end_reason or reason
        self.failed = self.failed or failed
        return self._send(rq.session_stop(self.sid, epoch, kind), now)

    def _end_charging(self, kind: StopKind, now: float, epoch: int, reason: str) -> Send:
        """PowerDelivery(Stop), then (DC) welding detection, then SessionStop(kind)."""
        self.stop_kind = kind
        self.end_reason = reason
        self.applied_w = 0.0
        self._progress = "Stop"
        return self._send(rq.power_delivery(self.cfg, self.sid, epoch, "Stop", None, False), now)

    # --- one method per response ---------------------------------------------------------

    def _on_supportedAppProtocolRes(self, msg: Any, now: float, epoch: int) -> Step:
        return self._send(rq.session_setup(self.cfg, self.resume_id or self.sid, epoch), now)

    def _on_SessionSetupRes(self, msg: Any, now: float, epoch: int) -> Step:
        self.sid = msg.Header.SessionID
        self.evseid = msg.EVSEID
        if self.resume_id is not None and msg.ResponseCode == "OK_OldSessionJoined":
            self.resumed = True  # -20: a joined session continues at ChargeParameterDiscovery
            return self._send(rq.charge_parameter_discovery(self.cfg, self.sid, epoch), now)
        return self._send(rq.authorization_setup(self.sid, epoch), now)

    def _on_AuthorizationSetupRes(self, msg: Any, now: float, epoch: int) -> Step:
        if "EIM" not in msg.AuthorizationServices:
            return self._stop("Terminate", now, epoch, "SECC offers no EIM", failed=True)
        return self._send(rq.authorization(self.sid, epoch), now)

    def _on_AuthorizationRes(self, msg: Any, now: float, epoch: int) -> Step:
        if msg.EVSEProcessing != "Finished":
            return self._ongoing(rq.authorization(self.sid, epoch), now, epoch)
        self._finished_phase()
        if msg.ResponseCode.startswith("WARNING"):
            return self._stop("Terminate", now, epoch, f"not authorized: {msg.ResponseCode}",
                              failed=True)
        return self._send(rq.service_discovery(self.sid, epoch), now)

    def _on_ServiceDiscoveryRes(self, msg: Any, now: float, epoch: int) -> Step:
        offered = [s.ServiceID for s in msg.EnergyTransferServiceList.Service]
        want = SERVICE_IDS[self.cfg.service]
        base = self.cfg.service.removesuffix("_BPT")
        if want not in offered and self.cfg.bpt and SERVICE_IDS[base] in offered:
            # No V2X here (free vend, or not allowed by OCPP Q01): charge only, as a car does.
            self.cfg = replace(self.cfg, service=base)  # type: ignore[arg-type]
            want = SERVICE_IDS[base]
        if want not in offered:
            return self._stop("Terminate", now, epoch,
                              f"{self.cfg.service} not offered ({offered})", failed=True)
        return self._send(rq.service_detail(self.sid, epoch, want), now)

    def _on_ServiceDetailRes(self, msg: Any, now: float, epoch: int) -> Step:
        mode = CONTROL_MODE_IDS[self.cfg.control_mode]
        for pset in msg.ServiceParameterList.ParameterSet:
            values = {p.Name: p.intValue for p in pset.Parameter}
            if values.get("ControlMode") == mode:
                return self._send(rq.service_selection(
                    self.sid, epoch, msg.ServiceID, pset.ParameterSetID), now)
        return self._stop("Terminate", now, epoch,
                          f"no parameter set with {self.cfg.control_mode} mode", failed=True)

    def _on_ServiceSelectionRes(self, msg: Any, now: float, epoch: int) -> Step:
        return self._send(rq.charge_parameter_discovery(self.cfg, self.sid, epoch), now)

    def _on_AC_ChargeParameterDiscoveryRes(self, msg: Any, now: float, epoch: int) -> Step:
        mode = msg.BPT_AC_CPDResEnergyTransferMode or msg.AC_CPDResEnergyTransferMode
        return self._after_cpd(mode, now, epoch)

    def _on_DC_ChargeParameterDiscoveryRes(self, msg: Any, now: float, epoch: int) -> Step:
        mode = msg.BPT_DC_CPDResEnergyTransferMode or msg.DC_CPDResEnergyTransferMode
        return self._after_cpd(mode, now, epoch)

    def _after_cpd(self, mode: Any, now: float, epoch: int) -> Step:
        if mode is not None:
            self.evse_max_charge_w = abs(to_float(mode.EVSEMaximumChargePower))
            discharge = getattr(mode, "EVSEMaximumDischargePower", None)
            if discharge is not None:
                self.evse_max_discharge_w = abs(to_float(discharge))  # either sign accepted
        return self._send(rq.schedule_exchange(
            self.cfg, self.battery, self.sid, epoch, self.departure_in(now)), now)

    def _on_ScheduleExchangeRes(self, msg: Any, now: float, epoch: int) -> Step:
        if msg.EVSEProcessing != "Finished":
            return self._ongoing(rq.schedule_exchange(
                self.cfg, self.battery, self.sid, epoch, self.departure_in(now)), now, epoch)
        self._finished_phase()
        sched = msg.Scheduled_SEResControlMode
        if self.cfg.control_mode == "Scheduled" and sched is not None and sched.ScheduleTuple:
            chosen = sched.ScheduleTuple[0]
            self.tuple_id = chosen.ScheduleTupleID
            entries = chosen.ChargingSchedule.PowerSchedule.PowerScheduleEntries
            self.schedule_charge_w = abs(to_float(entries.PowerScheduleEntry[0].Power))
            if chosen.DischargingSchedule is not None:
                d = chosen.DischargingSchedule.PowerSchedule.PowerScheduleEntries
                self.schedule_discharge_w = abs(to_float(d.PowerScheduleEntry[0].Power))
        if self.cfg.dc:
            return self._send(rq.cable_check(self.sid, epoch), now)
        return self._power_delivery_start(now, epoch)

    def _power_delivery_start(self, now: float, epoch: int) -> Send:
        self._progress = "Start"
        self._discharging = self.cfg.wanted_w(self.t(now)) < 0
        if self._discharging:  # the plan stays inside the chosen schedule (Scheduled)
            plan = -_within(self.cfg.max_discharge_w, self.schedule_discharge_w)
        else:
            plan = _within(self.cfg.max_charge_w, self.schedule_charge_w)
        return self._send(rq.power_delivery(self.cfg, self.sid, epoch, "Start", self.tuple_id,
                                            self._discharging, plan), now)

    def _on_DC_CableCheckRes(self, msg: Any, now: float, epoch: int) -> Step:
        if msg.EVSEProcessing != "Finished":
            return self._ongoing(rq.cable_check(self.sid, epoch), now, epoch)
        self._finished_phase()
        v = self.battery.voltage
        return self._send(rq.precharge(self.sid, epoch, "Ongoing", v, v), now)

    def _on_DC_PreChargeRes(self, msg: Any, now: float, epoch: int) -> Step:
        v = self.battery.voltage
        if abs(to_float(msg.EVSEPresentVoltage) - v) <= self.cfg.precharge_tolerance_v:
            if self._precharge_finished:
                self._finished_phase()
                return self._power_delivery_start(now, epoch)
            self._precharge_finished = True  # one PreChargeReq(Finished), then PowerDelivery
            return self._send(rq.precharge(self.sid, epoch, "Finished", v, v), now)
        return self._ongoing(rq.precharge(self.sid, epoch, "Ongoing", v, v), now, epoch)

    def _on_PowerDeliveryRes(self, msg: Any, now: float, epoch: int) -> Step:
        if self._progress == "Start":
            self._last_loop_at = now
            return self._loop_request(now, epoch, 0.0)
        if self._progress == "ScheduleRenegotiation":
            return self._send(rq.schedule_exchange(
                self.cfg, self.battery, self.sid, epoch, self.departure_in(now)), now)
        if self.cfg.dc:  # Stop: the DC EV checks its contactors for welding first
            return self._send(rq.welding_detection(self.sid, epoch, "Ongoing"), now)
        return self._stop(self.stop_kind, now, epoch, self.end_reason)

    def _on_DC_WeldingDetectionRes(self, msg: Any, now: float, epoch: int) -> Step:
        if not self._welding_finished:
            self._welding_finished = True
            return self._send(rq.welding_detection(self.sid, epoch, "Finished"), now)
        return self._stop(self.stop_kind, now, epoch, self.end_reason)

    def _on_SessionStopRes(self, msg: Any, now: float, epoch: int) -> Step:
        if self.stop_kind == "ServiceRenegotiation":  # the session goes on, same connection
            self._welding_finished = self._precharge_finished = False
            return self._send(rq.service_discovery(self.sid, epoch), now)
        if self.failed:
            return Done("failed", self.end_reason)
        return Done("paused" if self.stop_kind == "Pause" else "terminated", self.end_reason)

    def _on_AC_ChargeLoopRes(self, msg: Any, now: float, epoch: int) -> Step:
        mode = (msg.BPT_Dynamic_AC_CLResControlMode or msg.Dynamic_AC_CLResControlMode
                or msg.BPT_Scheduled_AC_CLResControlMode or msg.Scheduled_AC_CLResControlMode)
        target = _phases_sum(mode, "EVSETargetActivePower") if mode is not None else None
        wanted = self.cfg.wanted_w(self.t(now))
        if self.cfg.control_mode == "Dynamic" and target is not None:
            applied = target  # Dynamic: the SECC decides; the car follows within its limits
        elif wanted < 0:
            applied = -_within(-wanted, self.schedule_discharge_w)
        else:
            applied = _within(wanted, self.schedule_charge_w)
        self.applied_w = max(-self.cfg.max_discharge_w if self.cfg.bpt else 0.0,
                             min(self.cfg.max_charge_w, applied))
        reported = _phases_sum(mode, "EVSEPresentActivePower") if mode is not None else None
        return self._after_loop(msg, reported if reported is not None else self.applied_w,
                                target, now, epoch)

    def _on_DC_ChargeLoopRes(self, msg: Any, now: float, epoch: int) -> Step:
        present = to_float(msg.EVSEPresentVoltage) * to_float(msg.EVSEPresentCurrent)
        self.applied_w = present
        return self._after_loop(msg, present, None, now, epoch)

    def _after_loop(self, msg: Any, present_w: float, target_w: float | None, now: float,
                    epoch: int) -> Step:
        assert self._last_loop_at is not None
        self.battery.integrate(present_w, now - self._last_loop_at)
        self._last_loop_at = now
        self.loops.append(LoopRecord(self.t(now), present_w, target_w, self.battery.soc))
        status = getattr(msg, "EVSEStatus", None)
        note = status.EVSENotification if status is not None else None
        if note is not None:
            self.notifications.append(note)
        t = self.t(now)
        # The SECC's word first ([V2G20-...] EVSENotification), then the EV's own script.
        if note == "Terminate":
            return self._end_charging("Terminate", now, epoch, "SECC: Terminate")
        if note == "Pause":
            return self._end_charging("Pause", now, epoch, "SECC: Pause")
        if note == "ServiceRenegotiation":
            return self._end_charging("ServiceRenegotiation", now, epoch, "SECC: renegotiation")
        if note == "ScheduleRenegotiation":
            self._progress = "ScheduleRenegotiation"
            return self._send(rq.power_delivery(self.cfg, self.sid, epoch,
                                                "ScheduleRenegotiation", None, False), now)
        if self.stop_requested:
            return self._end_charging("Terminate", now, epoch, "driver: unplug")
        if self.cfg.stop_at_s is not None and t >= self.cfg.stop_at_s:
            return self._end_charging("Terminate", now, epoch, "script: stop")
        if self.cfg.pause_at_s is not None and t >= self.cfg.pause_at_s and not self.pause_done:
            self.pause_done = True
            return self._end_charging("Pause", now, epoch, "script: pause")
        if t >= self.cfg.departure_s:
            return self._end_charging("Terminate", now, epoch, "departure time")
        wanted = self.cfg.wanted_w(t)
        if wanted >= 0 and self.battery.soc >= self.cfg.target_soc:
            return self._end_charging("Terminate", now, epoch, "target SOC reached")
        return self._loop_request(now, epoch, self.cfg.loop_interval_s)

    def _loop_request(self, now: float, epoch: int, delay_s: float) -> Send:
        req = rq.charge_loop(self.cfg, self.battery, self.sid, epoch, self.applied_w,
                             self.departure_in(now), self.cfg.wanted_w(self.t(now)))
        return self._send(req, now, delay_s)


def _phases_sum(mode: Any, name: str) -> float | None:
    """A per-phase AC value: the base element is L1 when _L2/_L3 are present."""
    base = getattr(mode, name, None)
    if base is None:
        return None
    total = to_float(base)
    for suffix in ("_L2", "_L3"):
        extra = getattr(mode, name + suffix, None)
        if extra is not None:
            total += to_float(extra)
    return total


def _within(w: float, schedule_w: float | None) -> float:
    """`w` inside the chosen schedule; a schedule of 0 W is a limit of 0 W, not "none"
    (the station offers 0 W one way while it wants the other, or while hal ramps in)."""
    return w if schedule_w is None else min(w, schedule_w)
