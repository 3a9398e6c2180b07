"""Types every -20 state handler shares: the session context, the station's snapshot, the
outcome of one request, and the actions the station carries out.

Sign convention (ours, documented in the README): power and current are positive when
energy flows into the car (charging), negative when the car discharges. On the wire, -20
carries BPT discharge limits as separate EVMaximumDischargePower etc.; the handlers accept
either sign there and always send magnitudes (see reference: the standard is read both
ways).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from evse.iso15118.d20.price_schedule import PriceOffer
from evse.iso15118.exi._generated.shared_types import MessageHeaderType

Namespace = Literal["app", "common", "ac", "dc"]
ServiceName = Literal["AC", "DC", "AC_BPT", "DC_BPT"]
ControlMode = Literal["Scheduled", "Dynamic"]

SERVICE_IDS: dict[ServiceName, int] = {"AC": 1, "DC": 2, "AC_BPT": 5, "DC_BPT": 6}
CONTROL_MODE_IDS: dict[ControlMode, int] = {"Scheduled": 1, "Dynamic": 2}


@dataclass(frozen=True, slots=True)
class SeccLimits:
    """What this EVSE can do (from `[iso15118]` and the unit's ratings); magnitudes."""

    max_charge_w: float
    max_discharge_w: float
    max_charge_a: float
    max_discharge_a: float
    min_v: float = 0.0  # DC output voltage range
    max_v: float = 0.0
    nominal_v: float = 230.0  # AC line-to-neutral
    phases: int = 3  # AC phases this EVSE can use


@dataclass(frozen=True, slots=True)
class SeccConfig:
    evse_id: int  # OCPP EVSE id
    evseid: str  # the EVSEID string sent to the car (DIN SPEC 91286, e.g. "DE*ABC*E1")
    services: tuple[ServiceName, ...]
    control_modes: tuple[ControlMode, ...]
    limits: SeccLimits
    sequence_timeout_s: float = 60.0  # [V2G20-...] SECC sequence timeout
    ongoing_timeout_s: float = 60.0  # EVSEProcessing=Ongoing at most this long (EIM)
    cable_check_s: float = 40.0
    precharge_s: float = 10.0
    notification_max_delay_s: int = 60
    service_renegotiation: bool = True  # offered in ServiceDiscoveryRes (SessionStop)
    price_offer: PriceOffer | None = None  # Scheduled: a price schedule (price_schedule.py)


@dataclass(frozen=True, slots=True)
class DcState:
    """The DC power stage as hal last reported it (None fields: not measured)."""

    present_v: float | None = None
    present_a: float | None = None
    isolation: Literal["unknown", "ongoing", "valid", "warning", "fault"] = "unknown"
    precharge_done: bool = False
    welding_v: float | None = None  # output voltage seen for welding detection


@dataclass(frozen=True, slots=True)
class StationView:
    """A snapshot of what the station knows, taken when the request arrived."""

    epoch_s: int = 0  # wall clock (s since 1970) for MessageHeader.TimeStamp; timers use `now`
    authorization: Literal["none", "pending", "accepted", "rejected"] = "none"
    may_discharge: bool = False  # OCPP Q01 allowedEnergyTransfer includes discharge
    target_w: float | None = None  # energy manager's target for the car, already capped
    # by hal's grid constraint (signed: + charge, - discharge); None = no decision yet
    min_w: float | None = None  # hal's allowed range in force (signed), for limits sent
    max_w: float | None = None
    present_w: float | None = None  # latest hal measurement at the EVSE (signed)
    present_v: float | None = None  # AC line-to-neutral or DC output
    present_a: float | None = None
    energy_in_wh: float | None = None
    energy_out_wh: float | None = None
    contactor_closed: bool = False
    grid_state: str = "normal"  # hal: normal / ceased / tripped / entering_service
    stop_requested: bool = False  # the station wants the session ended (remote stop...)
    pause_requested: bool = False
    dc: DcState | None = None


@dataclass(frozen=True, slots=True)
class EvLimitsKnown:
    """The car's limits after ChargeParameterDiscovery (magnitudes, W / A / V)."""

    max_charge_w: float
    min_charge_w: float = 0.0
    max_discharge_w: float = 0.0
    min_discharge_w: float = 0.0
    max_charge_a: float | None = None
    max_discharge_a: float | None = None
    max_v: float | None = None
    min_v: float | None = None


# --- actions the station carries out (the coordinator maps them to OCPP / hal / energy) ---


@dataclass(frozen=True, slots=True)
class StartAuthorization:
    """EIM: the car asked to be authorized; the station asks OCPP (id token from the
    RFID reader / remote start) and reports the result in `StationView.authorization`."""

    method: Literal["EIM", "PnC"] = "EIM"


@dataclass(frozen=True, slots=True)
class EvNeeds:
    """The car's limits and wishes: to the energy manager and OCPP NotifyEVChargingNeeds."""

    service: ServiceName
    control_mode: ControlMode
    limits: EvLimitsKnown
    departure_time_s: int | None = None  # seconds from now
    target_energy_wh: float | None = None
    min_energy_wh: float | None = None
    max_energy_wh: float | None = None
    target_soc: int | None = None
    min_soc: int | None = None
    # From ScheduleExchange: the session's needs are complete (ChargeParameterDiscovery
    # gave the limits, ScheduleExchange departure, energy and SOC): the one for OCPP.
    complete: bool = False


@dataclass(frozen=True, slots=True)
class EnergyTransfer:
    """PowerDelivery Start / Stop / Standby: close or open the way for power."""

    start: bool
    standby: bool = False


@dataclass(frozen=True, slots=True)
class DcCommand:
    """DC: what the stage should do next (cable check, precharge, deliver, off)."""

    kind: Literal["cable_check", "precharge", "deliver", "off", "welding_check"]
    target_v: float | None = None
    target_a: float | None = None


@dataclass(frozen=True, slots=True)
class EvStatus:
    """What the car reported in a loop message (for status, MQTT, meter values)."""

    soc: int | None = None
    present_v: float | None = None
    target_w: float | None = None
    target_soc: int | None = None  # DisplayParameters.TargetSOC
    departure_time_s: int | None = None  # Dynamic: DepartureTime, seconds from now


@dataclass(frozen=True, slots=True)
class SessionEnded:
    reason: str  # "terminate", "pause", "renegotiate", "sequence_error", "timeout", ...
    paused: bool = False


Action = StartAuthorization | EvNeeds | EnergyTransfer | DcCommand | EvStatus | SessionEnded


@dataclass(slots=True)
class SessionContext:
    """Mutable per-session state the handlers read and write (one per car session).

    Kept across a Pause so a car that resumes with its old SessionID continues here.
    """

    config: SeccConfig
    session_id: bytes = b"\x00" * 8
    evccid: str = ""
    namespace: Namespace = "common"  # energy namespace after ServiceSelection
    service: ServiceName | None = None
    control_mode: ControlMode | None = None
    parameter_set_id: int | None = None
    ev: EvLimitsKnown | None = None
    departure_time_s: int | None = None
    auth_started_at: float | None = None
    phase_started_at: float | None = None  # cable check / precharge / ongoing waits
    energy_transfer: bool = False
    paused: bool = False
    offered_services: tuple[ServiceName, ...] = ()
    schedule_tuple_id: int | None = None  # Scheduled: the tuple the car chose
    extra: dict[str, Any] = field(default_factory=dict)  # per-handler scratch, typed there
    # Source of the new SessionID (SessionSetup); tests pass a deterministic one.
    random_bytes: Callable[[int], bytes] = secrets.token_bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request handled: the response to send and what may come next.

    `next` empty means the session ends once the response is sent.
    """

    response_name: str  # global element, e.g. "SessionSetupRes"
    response: Any  # an instance of the generated class of that element
    namespace: Namespace
    next: frozenset[str]
    actions: tuple[Action, ...] = ()


def header(ctx: SessionContext, view: StationView) -> MessageHeaderType:
    """The MessageHeader of a response (SessionID, TimeStamp in seconds since 1970)."""
    return MessageHeaderType(SessionID=ctx.session_id, TimeStamp=view.epoch_s)
