"""What the car told the SECC in its ISO 15118-20 session, kept on the controller's view
of the EVSE (`controller.evses[eid].ev`) for the MQTT status (docs/mqtt-api.md).

Immutable: each update returns a new value that `evse/station/iso_session.py` puts in
place, so a status snapshot holding the old one never sees it change. Pure functions of
the session's actions and the wall clock they are given (the departure time is sent as
seconds from the message; we keep it as a time of day so that it does not drift).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from evse.iso15118.d20.types import EvNeeds, EvStatus

# -20 request -> the stage of the session it belongs to (ISO 15118-20 8.8 sequence).
_STAGES: Final = {
    "supportedAppProtocolReq": "setup",
    "SessionSetupReq": "setup",
    "AuthorizationSetupReq": "authorization",
    "AuthorizationReq": "authorization",
    "ServiceDiscoveryReq": "service_selection",
    "ServiceDetailReq": "service_selection",
    "ServiceSelectionReq": "service_selection",
    "AC_ChargeParameterDiscoveryReq": "charge_parameters",
    "DC_ChargeParameterDiscoveryReq": "charge_parameters",
    "ScheduleExchangeReq": "schedule_exchange",
    "DC_CableCheckReq": "cable_check",
    "DC_PreChargeReq": "precharge",
    "PowerDeliveryReq": "power_delivery",
    "AC_ChargeLoopReq": "charge_loop",
    "DC_ChargeLoopReq": "charge_loop",
    "DC_WeldingDetectionReq": "welding_detection",
    "SessionStopReq": "session_stop",
}


@dataclass(frozen=True, slots=True)
class EvSessionStatus:
    """The car's side of a -20 session; None fields: the car has not said (yet)."""

    stage: str = "setup"  # see _STAGES; "ended" / "paused" after SessionStop or loss
    service: str | None = None  # AC, DC, AC_BPT, DC_BPT
    control_mode: str | None = None  # Scheduled, Dynamic
    soc_pct: int | None = None  # DisplayParameters.PresentSOC (DC: also its CPD)
    target_soc_pct: int | None = None
    min_soc_pct: int | None = None
    departure_epoch_s: float | None = None  # wall clock, from DepartureTime
    max_charge_w: float | None = None  # the car's, from ChargeParameterDiscovery
    max_discharge_w: float | None = None
    end_reason: str | None = None

    def answered(self, request: str) -> EvSessionStatus:
        """The SECC answered `request` (a -20 message name): the session's stage."""
        stage = _STAGES.get(request)
        if stage is None or stage == self.stage or self.end_reason is not None:
            return self  # SessionStopRes goes out after the session ended: "ended" stays
        return replace(self, stage=stage)

    def needs(self, a: EvNeeds, epoch_s: float) -> EvSessionStatus:
        """ChargeParameterDiscovery / ScheduleExchange: limits, service and wishes."""
        return replace(
            self,
            service=a.service,
            control_mode=a.control_mode,
            max_charge_w=a.limits.max_charge_w,
            max_discharge_w=a.limits.max_discharge_w if a.service.endswith("_BPT") else 0.0,
            target_soc_pct=_pick(a.target_soc, self.target_soc_pct),
            min_soc_pct=_pick(a.min_soc, self.min_soc_pct),
            departure_epoch_s=_departure(a.departure_time_s, epoch_s, self.departure_epoch_s),
        )

    def loop(self, a: EvStatus, epoch_s: float) -> EvSessionStatus:
        """A ChargeLoop request: the present SOC (and target / departure when sent)."""
        return replace(
            self,
            soc_pct=_pick(a.soc, self.soc_pct),
            target_soc_pct=_pick(a.target_soc, self.target_soc_pct),
            departure_epoch_s=_departure(a.departure_time_s, epoch_s, self.departure_epoch_s),
        )

    def ended(self, reason: str, paused: bool) -> EvSessionStatus:
        return replace(self, stage="paused" if paused else "ended", end_reason=reason)

    def summary(self) -> str:
        """A few words for the status line (evse/station/status.py)."""
        parts = [f"EV {self.stage}"]
        if self.service:
            parts.append(f"{self.service}/{self.control_mode}")
        if self.soc_pct is not None:
            target = f"->{self.target_soc_pct}" if self.target_soc_pct is not None else ""
            parts.append(f"SOC {self.soc_pct}{target} %")
        if self.max_charge_w is not None:
            parts.append(f"max +{self.max_charge_w / 1000:.1f}/"
                         f"-{(self.max_discharge_w or 0.0) / 1000:.1f} kW")
        return " ".join(parts)


def _pick(new: int | None, old: int | None) -> int | None:
    return old if new is None else new


def _departure(seconds: int | None, epoch_s: float, old: float | None) -> float | None:
    return old if seconds is None else float(int(epoch_s) + seconds)
