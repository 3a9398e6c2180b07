"""What the controller knows of the car on one EVSE from its ISO 15118-20 session
(`controller.evses[eid].ev`): kept up to date by evse/station/iso_session.py from the
SECC's actions, read by the status line (evse/station/status.py) and whoever reports the
station's state (MQTT, OCPP meter values). Plain data, no protocol."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class EvView:
    stage: str = "setup"  # setup (before PowerDelivery) | energy (Start .. Stop) | ended
    service: str | None = None  # AC, DC, AC_BPT, DC_BPT
    control_mode: str | None = None  # Scheduled, Dynamic
    soc_pct: int | None = None  # DisplayParameters.PresentSOC
    target_soc_pct: int | None = None
    min_soc_pct: int | None = None
    departure_s: int | None = None  # seconds from when the car said it
    max_charge_w: float | None = None  # the car's limits (ChargeParameterDiscovery)
    max_discharge_w: float | None = None
    present_v: float | None = None  # DC: the car's battery voltage
    target_w: float | None = None  # what the car asked for in its last loop message
    end_reason: str = ""

    def summary(self) -> str:
        """A few words for the status line."""
        parts = [f"EV {self.stage}"]
        if self.service:
            parts.append(f"{self.service}/{self.control_mode}")
        if self.soc_pct is not None:
            target = f"->{self.target_soc_pct}" if self.target_soc_pct is not None else ""
            parts.append(f"SOC {self.soc_pct}{target} %")
        if self.max_charge_w is not None:
            parts.append(f"max +{(self.max_charge_w or 0) / 1000:.1f}/"
                         f"-{(self.max_discharge_w or 0) / 1000:.1f} kW")
        return " ".join(parts)
