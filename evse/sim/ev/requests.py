"""The requests our EV sends, built from its config and battery (pure functions).

Each returns (namespace, element name, message). Discharge limits go on the wire as
magnitudes (the -20 text names them EVMaximumDischargePower etc.; some peers read a sign
there, so we keep it positive and say so); a discharge target current is negative.
"""

from __future__ import annotations

from typing import Any, Literal

from evse.iso15118.d20.rational import from_float as rn
from evse.iso15118.exi._generated import ac_types as ac
from evse.iso15118.exi._generated import app_types as app
from evse.iso15118.exi._generated import common_types as cm
from evse.iso15118.exi._generated import dc_types as dc
from evse.iso15118.exi._generated.shared_types import (
    DisplayParametersType,
    MessageHeaderType,
)
from evse.sim.ev.battery import Battery
from evse.sim.ev.config import EvConfig

Request = tuple[str, str, Any]  # (namespace short name, global element, message)
Processing = Literal["Finished", "Ongoing"]

NS_AC = "urn:iso:std:iso:15118:-20:AC"
NS_DC = "urn:iso:std:iso:15118:-20:DC"


def hdr(session_id: bytes, epoch: int) -> MessageHeaderType:
    return MessageHeaderType(SessionID=session_id, TimeStamp=epoch)


def sap(cfg: EvConfig) -> Request:
    urn = NS_DC if cfg.dc else NS_AC
    proto = app.AppProtocolType(ProtocolNamespace=urn, VersionNumberMajor=1,
                                VersionNumberMinor=0, SchemaID=1, Priority=1)
    return "app", "supportedAppProtocolReq", app.supportedAppProtocolReqType(AppProtocol=[proto])


def session_setup(cfg: EvConfig, sid: bytes, epoch: int) -> Request:
    return "common", "SessionSetupReq", cm.SessionSetupReqType(
        Header=hdr(sid, epoch), EVCCID=cfg.evccid)


def authorization_setup(sid: bytes, epoch: int) -> Request:
    return "common", "AuthorizationSetupReq", cm.AuthorizationSetupReqType(Header=hdr(sid, epoch))


def authorization(sid: bytes, epoch: int) -> Request:
    # EIM only: Plug & Charge comes later on both sides.
    return "common", "AuthorizationReq", cm.AuthorizationReqType(
        Header=hdr(sid, epoch), SelectedAuthorizationService="EIM",
        EIM_AReqAuthorizationMode=cm.EIM_AReqAuthorizationModeType())


def service_discovery(sid: bytes, epoch: int) -> Request:
    return "common", "ServiceDiscoveryReq", cm.ServiceDiscoveryReqType(Header=hdr(sid, epoch))


def service_detail(sid: bytes, epoch: int, service_id: int) -> Request:
    return "common", "ServiceDetailReq", cm.ServiceDetailReqType(
        Header=hdr(sid, epoch), ServiceID=service_id)


def service_selection(sid: bytes, epoch: int, service_id: int, pset: int) -> Request:
    return "common", "ServiceSelectionReq", cm.ServiceSelectionReqType(
        Header=hdr(sid, epoch),
        SelectedEnergyTransferService=cm.SelectedServiceType(ServiceID=service_id,
                                                             ParameterSetID=pset))


def per_phase(cfg: EvConfig, **totals: float) -> dict[str, Any]:
    """-20 AC values are per phase: the plain field is L1, _L2 / _L3 the other phases
    (absent: single phase); each total is spread evenly over the EV's phases."""
    n = min(max(cfg.phases, 1), 3)
    out: dict[str, Any] = {}
    for name, total in totals.items():
        out[name] = rn(total / n)
        for suffix in ("_L2", "_L3")[: n - 1]:
            out[name + suffix] = rn(total / n)
    return out


def charge_parameter_discovery(cfg: EvConfig, sid: bytes, epoch: int) -> Request:
    h = hdr(sid, epoch)
    if not cfg.dc:
        if cfg.bpt:
            return "ac", "AC_ChargeParameterDiscoveryReq", ac.AC_ChargeParameterDiscoveryReqType(
                Header=h, BPT_AC_CPDReqEnergyTransferMode=ac.BPT_AC_CPDReqEnergyTransferModeType(
                    **per_phase(cfg, EVMaximumChargePower=cfg.max_charge_w,
                                EVMinimumChargePower=0.0,
                                EVMaximumDischargePower=cfg.max_discharge_w,
                                EVMinimumDischargePower=0.0)))
        return "ac", "AC_ChargeParameterDiscoveryReq", ac.AC_ChargeParameterDiscoveryReqType(
            Header=h, AC_CPDReqEnergyTransferMode=ac.AC_CPDReqEnergyTransferModeType(
                **per_phase(cfg, EVMaximumChargePower=cfg.max_charge_w,
                            EVMinimumChargePower=0.0)))
    common: dict[str, Any] = dict(
        EVMaximumChargePower=rn(cfg.max_charge_w), EVMinimumChargePower=rn(0),
        EVMaximumChargeCurrent=rn(cfg.max_charge_a), EVMinimumChargeCurrent=rn(0),
        EVMaximumVoltage=rn(cfg.dc_max_v), EVMinimumVoltage=rn(cfg.dc_min_v),
        TargetSOC=cfg.target_soc)
    if cfg.bpt:
        return "dc", "DC_ChargeParameterDiscoveryReq", dc.DC_ChargeParameterDiscoveryReqType(
            Header=h, BPT_DC_CPDReqEnergyTransferMode=dc.BPT_DC_CPDReqEnergyTransferModeType(
                **common, EVMaximumDischargePower=rn(cfg.max_discharge_w),
                EVMinimumDischargePower=rn(0), EVMaximumDischargeCurrent=rn(cfg.max_discharge_a),
                EVMinimumDischargeCurrent=rn(0)))
    return "dc", "DC_ChargeParameterDiscoveryReq", dc.DC_ChargeParameterDiscoveryReqType(
        Header=h, DC_CPDReqEnergyTransferMode=dc.DC_CPDReqEnergyTransferModeType(**common))


def energies(cfg: EvConfig, bat: Battery) -> tuple[float, float, float]:
    """(target, maximum, minimum) energy request in Wh, from SOC and the targets."""
    per_pct = cfg.capacity_wh / 100.0
    target = max(0.0, (cfg.target_soc - bat.soc) * per_pct)
    maximum = max(0.0, (100.0 - bat.soc) * per_pct)
    minimum = (cfg.min_soc - bat.soc) * per_pct  # negative: the car may give energy
    return target, maximum, minimum if cfg.bpt else max(0.0, minimum)


def schedule_exchange(cfg: EvConfig, bat: Battery, sid: bytes, epoch: int,
                      departure_in_s: int) -> Request:
    target, maximum, minimum = energies(cfg, bat)
    h = hdr(sid, epoch)
    if cfg.control_mode == "Dynamic":
        mode = cm.Dynamic_SEReqControlModeType(
            DepartureTime=departure_in_s, MinimumSOC=cfg.min_soc, TargetSOC=cfg.target_soc,
            EVTargetEnergyRequest=rn(target), EVMaximumEnergyRequest=rn(maximum),
            EVMinimumEnergyRequest=rn(minimum))
        if cfg.bpt:
            mode.EVMaximumV2XEnergyRequest = rn(maximum)
            mode.EVMinimumV2XEnergyRequest = rn(minimum)
        return "common", "ScheduleExchangeReq", cm.ScheduleExchangeReqType(
            Header=h, MaximumSupportingPoints=1024, Dynamic_SEReqControlMode=mode)
    return "common", "ScheduleExchangeReq", cm.ScheduleExchangeReqType(
        Header=h, MaximumSupportingPoints=1024,
        Scheduled_SEReqControlMode=cm.Scheduled_SEReqControlModeType(
            DepartureTime=departure_in_s, EVTargetEnergyRequest=rn(target),
            EVMaximumEnergyRequest=rn(maximum), EVMinimumEnergyRequest=rn(minimum)))


def power_delivery(cfg: EvConfig, sid: bytes, epoch: int,
                   progress: Literal["Start", "Stop", "ScheduleRenegotiation"],
                   tuple_id: int | None, discharge: bool, profile_w: float = 0.0) -> Request:
    """`profile_w`: the power the EV plans (signed), within the chosen schedule: a profile
    above it is FAILED_EVPowerProfileViolation."""
    req = cm.PowerDeliveryReqType(Header=hdr(sid, epoch), EVProcessing="Finished",
                                  ChargeProgress=progress)
    if progress == "Start":
        entry = cm.PowerScheduleEntryType(Duration=max(1, cfg.departure_s), Power=rn(profile_w))
        req.EVPowerProfile = cm.EVPowerProfileType(
            TimeAnchor=epoch,
            EVPowerProfileEntries=cm.EVPowerProfileEntryListType(EVPowerProfileEntry=[entry]))
        if cfg.control_mode == "Scheduled":
            # PowerToleranceAcceptance is optional in the schema; Josev's SECC rejects the
            # request without it, and confirming the SECC's tolerance is what we do anyway.
            req.EVPowerProfile.Scheduled_EVPPTControlMode = cm.Scheduled_EVPPTControlModeType(
                SelectedScheduleTupleID=tuple_id or 1,
                PowerToleranceAcceptance="PowerToleranceConfirmed")
        else:
            req.EVPowerProfile.Dynamic_EVPPTControlMode = cm.Dynamic_EVPPTControlModeType()
        if cfg.bpt:
            req.BPT_ChannelSelection = "Discharge" if discharge else "Charge"
    return "common", "PowerDeliveryReq", req


def cable_check(sid: bytes, epoch: int) -> Request:
    return "dc", "DC_CableCheckReq", dc.DC_CableCheckReqType(Header=hdr(sid, epoch))


def precharge(sid: bytes, epoch: int, processing: Processing, present_v: float,
              target_v: float) -> Request:
    return "dc", "DC_PreChargeReq", dc.DC_PreChargeReqType(
        Header=hdr(sid, epoch), EVProcessing=processing, EVPresentVoltage=rn(present_v),
        EVTargetVoltage=rn(target_v))


def welding_detection(sid: bytes, epoch: int, processing: Processing) -> Request:
    return "dc", "DC_WeldingDetectionReq", dc.DC_WeldingDetectionReqType(
        Header=hdr(sid, epoch), EVProcessing=processing)


def session_stop(sid: bytes, epoch: int,
                 kind: Literal["Pause", "Terminate", "ServiceRenegotiation"]) -> Request:
    return "common", "SessionStopReq", cm.SessionStopReqType(
        Header=hdr(sid, epoch), ChargingSession=kind)


def charge_loop(cfg: EvConfig, bat: Battery, sid: bytes, epoch: int, present_w: float,
                departure_in_s: int, wanted_w: float) -> Request:
    """AC_ or DC_ChargeLoopReq for the chosen service and control mode."""
    target, maximum, minimum = energies(cfg, bat)
    display = DisplayParametersType(PresentSOC=round(bat.soc), MinimumSOC=cfg.min_soc,
                                    TargetSOC=cfg.target_soc,
                                    ChargingComplete=bat.soc >= cfg.target_soc)
    h = hdr(sid, epoch)
    # What the EV will take now: its script, inside its limits (Dynamic: the SECC decides).
    max_charge = max(0.0, min(cfg.max_charge_w, wanted_w)) if wanted_w >= 0 else 0.0
    max_discharge = cfg.max_discharge_w if cfg.bpt else 0.0
    dynamic = cfg.control_mode == "Dynamic"
    if not cfg.dc:
        msg = ac.AC_ChargeLoopReqType(Header=h, DisplayParameters=display,
                                      MeterInfoRequested=False)
        limits: dict[str, Any] = per_phase(cfg, EVPresentActivePower=present_w)
        if dynamic:
            limits.update(DepartureTime=departure_in_s, EVTargetEnergyRequest=rn(target),
                          EVMaximumEnergyRequest=rn(maximum), EVMinimumEnergyRequest=rn(minimum),
                          EVPresentReactivePower=rn(0),
                          **per_phase(cfg, EVMaximumChargePower=max_charge,
                                      EVMinimumChargePower=0.0))
            if cfg.bpt:
                msg.BPT_Dynamic_AC_CLReqControlMode = ac.BPT_Dynamic_AC_CLReqControlModeType(
                    **limits, **per_phase(cfg, EVMaximumDischargePower=max_discharge,
                                          EVMinimumDischargePower=0.0))
            else:
                msg.Dynamic_AC_CLReqControlMode = ac.Dynamic_AC_CLReqControlModeType(**limits)
        elif cfg.bpt:
            msg.BPT_Scheduled_AC_CLReqControlMode = ac.BPT_Scheduled_AC_CLReqControlModeType(
                **limits)
        else:
            msg.Scheduled_AC_CLReqControlMode = ac.Scheduled_AC_CLReqControlModeType(**limits)
        return "ac", "AC_ChargeLoopReq", msg
    v = bat.voltage
    msg_dc = dc.DC_ChargeLoopReqType(Header=h, DisplayParameters=display,
                                     MeterInfoRequested=False, EVPresentVoltage=rn(v))
    if dynamic:
        lim: dict[str, Any] = dict(
            DepartureTime=departure_in_s, EVTargetEnergyRequest=rn(target),
            EVMaximumEnergyRequest=rn(maximum), EVMinimumEnergyRequest=rn(minimum),
            EVMaximumChargePower=rn(max_charge), EVMinimumChargePower=rn(0),
            EVMaximumChargeCurrent=rn(min(cfg.max_charge_a, max_charge / v)),
            EVMaximumVoltage=rn(cfg.dc_max_v), EVMinimumVoltage=rn(cfg.dc_min_v))
        if cfg.bpt:
            msg_dc.BPT_Dynamic_DC_CLReqControlMode = dc.BPT_Dynamic_DC_CLReqControlModeType(
                **lim, EVMaximumDischargePower=rn(max_discharge), EVMinimumDischargePower=rn(0),
                EVMaximumDischargeCurrent=rn(cfg.max_discharge_a))
        else:
            msg_dc.Dynamic_DC_CLReqControlMode = dc.Dynamic_DC_CLReqControlModeType(**lim)
        return "dc", "DC_ChargeLoopReq", msg_dc
    # Scheduled DC: the EV asks for a current (negative: discharge) at its pack voltage.
    amps = max(-cfg.max_discharge_a, min(cfg.max_charge_a, wanted_w / v))
    sched: dict[str, Any] = dict(EVTargetCurrent=rn(amps), EVTargetVoltage=rn(cfg.dc_max_v))
    if cfg.bpt:
        msg_dc.BPT_Scheduled_DC_CLReqControlMode = dc.BPT_Scheduled_DC_CLReqControlModeType(
            **sched)
    else:
        msg_dc.Scheduled_DC_CLReqControlMode = dc.Scheduled_DC_CLReqControlModeType(**sched)
    return "dc", "DC_ChargeLoopReq", msg_dc
