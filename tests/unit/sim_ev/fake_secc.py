"""A scripted SECC for driving our EV's state machine without a network.

Every request and response goes through the real EXI codec (encode, then decode), so a
message the schema does not allow fails here as it would on the wire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evse.iso15118.d20.rational import from_float as rn
from evse.iso15118.exi._generated import ac_types as ac
from evse.iso15118.exi._generated import app_types as app
from evse.iso15118.exi._generated import common_types as cm
from evse.iso15118.exi._generated import dc_types as dc
from evse.iso15118.exi._generated.shared_types import EVSEStatusType, MessageHeaderType
from evse.iso15118.exi.codec import Codec
from evse.sim.ev.battery import Battery
from evse.sim.ev.config import EvConfig
from evse.sim.ev.evcc import Done, Evcc, Send

SID = bytes.fromhex("0102030405060708")
H = MessageHeaderType(SessionID=SID, TimeStamp=1_800_000_000)
_CODECS = {ns: Codec.for_namespace(ns) for ns in ("app", "common", "ac", "dc")}
_NS_OF = {"AC_": "ac", "DC_": "dc", "sup": "app"}


def wire(ns: str, name: str, msg: Any) -> Any:
    """`msg` after a trip through the EXI codec (what the peer would decode)."""
    codec = _CODECS[ns]
    got_name, got = codec.decode_message(codec.encode_message(name, msg))
    assert got_name == name
    return got


@dataclass
class FakeSecc:
    """Answers each request; `overrides[name]` replaces the default answer (a callable
    taking the request and the call count)."""

    target_w: float = 7000.0  # Dynamic AC target / DC present power
    present_w: float | None = 7000.0  # AC EVSEPresentActivePower (None: not sent)
    dc_v: float = 400.0
    services: tuple[int, ...] = (1, 2, 5, 6)
    notification_at_loop: dict[int, str] = field(default_factory=dict)
    overrides: dict[str, Callable[[Any, int], tuple[str, Any]]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, Any]] = field(default_factory=list)
    session_code: str = "OK_NewSessionEstablished"

    def answer(self, name: str, req: Any) -> tuple[str, Any]:
        n = self.calls[name] = self.calls.get(name, 0) + 1
        self.requests.append((name, req))
        if name in self.overrides:
            return self.overrides[name](req, n)
        res_name = name[:-3] + "Res"
        return res_name, getattr(self, f"_{name}")(req, n)

    def _supportedAppProtocolReq(self, req: Any, n: int) -> Any:
        return app.supportedAppProtocolResType(ResponseCode="OK_SuccessfulNegotiation",
                                               SchemaID=1)

    def _SessionSetupReq(self, req: Any, n: int) -> Any:
        return cm.SessionSetupResType(Header=H, ResponseCode=self.session_code, EVSEID="DE*EVS*E1")

    def _AuthorizationSetupReq(self, req: Any, n: int) -> Any:
        return cm.AuthorizationSetupResType(
            Header=H, ResponseCode="OK", AuthorizationServices=["EIM"],
            CertificateInstallationService=False,
            EIM_ASResAuthorizationMode=cm.EIM_ASResAuthorizationModeType())

    def _AuthorizationReq(self, req: Any, n: int) -> Any:
        return cm.AuthorizationResType(Header=H, ResponseCode="OK", EVSEProcessing="Finished")

    def _ServiceDiscoveryReq(self, req: Any, n: int) -> Any:
        services = [cm.ServiceType(ServiceID=s, FreeService=True) for s in self.services]
        return cm.ServiceDiscoveryResType(
            Header=H, ResponseCode="OK", ServiceRenegotiationSupported=True,
            EnergyTransferServiceList=cm.ServiceListType(Service=services))

    def _ServiceDetailReq(self, req: Any, n: int) -> Any:
        sets = [cm.ParameterSetType(ParameterSetID=10 + mode, Parameter=[
            cm.ParameterType(Name="ControlMode", intValue=mode),
            cm.ParameterType(Name="MobilityNeedsMode", intValue=mode)]) for mode in (1, 2)]
        return cm.ServiceDetailResType(Header=H, ResponseCode="OK", ServiceID=req.ServiceID,
                                       ServiceParameterList=cm.ServiceParameterListType(
                                           ParameterSet=sets))

    def _ServiceSelectionReq(self, req: Any, n: int) -> Any:
        return cm.ServiceSelectionResType(Header=H, ResponseCode="OK")

    def _AC_ChargeParameterDiscoveryReq(self, req: Any, n: int) -> Any:
        lim = dict(EVSEMaximumChargePower=rn(11000), EVSEMinimumChargePower=rn(0),
                   EVSENominalFrequency=rn(50))
        if req.BPT_AC_CPDReqEnergyTransferMode is not None:
            return ac.AC_ChargeParameterDiscoveryResType(
                Header=H, ResponseCode="OK",
                BPT_AC_CPDResEnergyTransferMode=ac.BPT_AC_CPDResEnergyTransferModeType(
                    **lim, EVSEMaximumDischargePower=rn(11000), EVSEMinimumDischargePower=rn(0)))
        return ac.AC_ChargeParameterDiscoveryResType(
            Header=H, ResponseCode="OK",
            AC_CPDResEnergyTransferMode=ac.AC_CPDResEnergyTransferModeType(**lim))

    def _DC_ChargeParameterDiscoveryReq(self, req: Any, n: int) -> Any:
        lim = dict(EVSEMaximumChargePower=rn(50000), EVSEMinimumChargePower=rn(0),
                   EVSEMaximumChargeCurrent=rn(125), EVSEMinimumChargeCurrent=rn(0),
                   EVSEMaximumVoltage=rn(500), EVSEMinimumVoltage=rn(150))
        if req.BPT_DC_CPDReqEnergyTransferMode is not None:
            return dc.DC_ChargeParameterDiscoveryResType(
                Header=H, ResponseCode="OK",
                BPT_DC_CPDResEnergyTransferMode=dc.BPT_DC_CPDResEnergyTransferModeType(
                    **lim, EVSEMaximumDischargePower=rn(50000), EVSEMinimumDischargePower=rn(0),
                    EVSEMaximumDischargeCurrent=rn(125), EVSEMinimumDischargeCurrent=rn(0)))
        return dc.DC_ChargeParameterDiscoveryResType(
            Header=H, ResponseCode="OK",
            DC_CPDResEnergyTransferMode=dc.DC_CPDResEnergyTransferModeType(**lim))

    def _ScheduleExchangeReq(self, req: Any, n: int) -> Any:
        res = cm.ScheduleExchangeResType(Header=H, ResponseCode="OK", EVSEProcessing="Finished")
        if req.Scheduled_SEReqControlMode is not None:
            def sched(w: float) -> cm.ChargingScheduleType:
                return cm.ChargingScheduleType(PowerSchedule=cm.PowerScheduleType(
                    TimeAnchor=0, PowerScheduleEntries=cm.PowerScheduleEntryListType(
                        PowerScheduleEntry=[cm.PowerScheduleEntryType(Duration=3600,
                                                                      Power=rn(w))])))
            res.Scheduled_SEResControlMode = cm.Scheduled_SEResControlModeType(ScheduleTuple=[
                cm.ScheduleTupleType(ScheduleTupleID=7, ChargingSchedule=sched(5000),
                                     DischargingSchedule=sched(-4000))])
        else:
            res.Dynamic_SEResControlMode = cm.Dynamic_SEResControlModeType()
        return res

    def _DC_CableCheckReq(self, req: Any, n: int) -> Any:
        return dc.DC_CableCheckResType(Header=H, ResponseCode="OK",
                                       EVSEProcessing="Ongoing" if n < 3 else "Finished")

    def _DC_PreChargeReq(self, req: Any, n: int) -> Any:
        return dc.DC_PreChargeResType(Header=H, ResponseCode="OK",
                                      EVSEPresentVoltage=req.EVTargetVoltage)

    def _PowerDeliveryReq(self, req: Any, n: int) -> Any:
        return cm.PowerDeliveryResType(Header=H, ResponseCode="OK")

    def _status(self, n: int) -> EVSEStatusType | None:
        note = self.notification_at_loop.get(n)
        return None if note is None else EVSEStatusType(NotificationMaxDelay=0,
                                                        EVSENotification=note)  # type: ignore[arg-type]

    def _AC_ChargeLoopReq(self, req: Any, n: int) -> Any:
        res = ac.AC_ChargeLoopResType(Header=H, ResponseCode="OK", EVSEStatus=self._status(n))
        present = None if self.present_w is None else rn(self.present_w)
        if req.Dynamic_AC_CLReqControlMode is not None:
            res.Dynamic_AC_CLResControlMode = ac.Dynamic_AC_CLResControlModeType(
                EVSETargetActivePower=rn(self.target_w), EVSEPresentActivePower=present)
        elif req.BPT_Dynamic_AC_CLReqControlMode is not None:
            res.BPT_Dynamic_AC_CLResControlMode = ac.BPT_Dynamic_AC_CLResControlModeType(
                EVSETargetActivePower=rn(self.target_w), EVSEPresentActivePower=present)
        elif req.BPT_Scheduled_AC_CLReqControlMode is not None:
            res.BPT_Scheduled_AC_CLResControlMode = ac.BPT_Scheduled_AC_CLResControlModeType(
                EVSEPresentActivePower=present)
        else:
            res.Scheduled_AC_CLResControlMode = ac.Scheduled_AC_CLResControlModeType(
                EVSEPresentActivePower=present)
        return res

    def _DC_ChargeLoopReq(self, req: Any, n: int) -> Any:
        res = dc.DC_ChargeLoopResType(
            Header=H, ResponseCode="OK", EVSEStatus=self._status(n),
            EVSEPresentCurrent=rn(self.target_w / self.dc_v), EVSEPresentVoltage=rn(self.dc_v),
            EVSEPowerLimitAchieved=False, EVSECurrentLimitAchieved=False,
            EVSEVoltageLimitAchieved=False)
        lim = dict(EVSEMaximumChargePower=rn(50000), EVSEMinimumChargePower=rn(0),
                   EVSEMaximumChargeCurrent=rn(125), EVSEMaximumVoltage=rn(500))
        if req.Dynamic_DC_CLReqControlMode is not None:
            res.Dynamic_DC_CLResControlMode = dc.Dynamic_DC_CLResControlModeType(**lim)
        elif req.BPT_Dynamic_DC_CLReqControlMode is not None:
            res.BPT_Dynamic_DC_CLResControlMode = dc.BPT_Dynamic_DC_CLResControlModeType(
                **lim, EVSEMaximumDischargePower=rn(50000), EVSEMinimumDischargePower=rn(0),
                EVSEMaximumDischargeCurrent=rn(125), EVSEMinimumVoltage=rn(150))
        elif req.BPT_Scheduled_DC_CLReqControlMode is not None:
            res.BPT_Scheduled_DC_CLResControlMode = dc.BPT_Scheduled_DC_CLResControlModeType()
        else:
            res.Scheduled_DC_CLResControlMode = dc.Scheduled_DC_CLResControlModeType()
        return res

    def _DC_WeldingDetectionReq(self, req: Any, n: int) -> Any:
        return dc.DC_WeldingDetectionResType(Header=H, ResponseCode="OK",
                                             EVSEPresentVoltage=rn(0))

    def _SessionStopReq(self, req: Any, n: int) -> Any:
        return cm.SessionStopResType(Header=H, ResponseCode="OK")


def namespace_of(name: str) -> str:
    return _NS_OF.get(name[:3], "common")


def drive(cfg: EvConfig, secc: FakeSecc, *, resume_id: bytes | None = None,
          max_steps: int = 2000) -> tuple[Evcc, Done]:
    """Run our EV's machine against `secc` on a fake clock (delays advance it)."""
    now = 100.0
    ev = Evcc(cfg, Battery(cfg.capacity_wh, cfg.soc_start), t0=now, resume_id=resume_id)
    step: Send | Done = ev.start(now)
    for _ in range(max_steps):
        if isinstance(step, Done):
            return ev, step
        now += step.delay_s + 0.01  # 10 ms on the wire per exchange
        req = wire(step.namespace, step.name, step.message)
        res_name, res = secc.answer(step.name, req)
        res = wire(namespace_of(res_name), res_name, res)
        step = ev.on_response(res_name, res, now, 1_800_000_000)
    raise AssertionError(f"no end after {max_steps} steps; last sent {ev.sent[-5:]}")
