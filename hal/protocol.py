"""The hal contract: the one interface between the evse and hal processes.

Wire format: a 4-byte big-endian length, then that many bytes of one CBOR map
`{"type": <name>, <field>: <value>, ...}`. The first message on a connection is
`hello` from evse, answered by `welcome` (protocol version and capabilities) or by an
`error` and a close when the versions differ. Field names are snake_case except inside
DER directives, which keep OCPP's camelCase DERControl shape so evse passes what the CSMS
sent without translating twice. Powers are in W, reactive power in var; positive active
power charges the car.

This module is sans-IO: `FrameDecoder` turns bytes into payloads, `decode_message` turns
a payload into a typed message (or a `ProtocolError` with a code), `encode_message` does
the reverse. The daemon and the client own the sockets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

PROTOCOL_VERSION = 3  # 3: power_request carries the operation mode (LocalFrequency)
MAX_FRAME_BYTES = 256 * 1024  # a full directive set with ten-point curves is a few KiB
_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame or message that breaks the contract. `code` goes into the error reply."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# Error codes carried in `Error.code`.
E_FRAME_TOO_LARGE = "frame_too_large"
E_MALFORMED = "malformed"  # not CBOR, or not a map
E_UNKNOWN_TYPE = "unknown_type"
E_INVALID_FIELD = "invalid_field"
E_HANDSHAKE = "handshake_required"
E_VERSION = "version_mismatch"
E_UNKNOWN_EVSE = "unknown_evse"
E_REJECTED = "rejected"
E_NOT_CONTROLLER = "not_controller"  # an observer sent a command
E_TOO_MANY_CLIENTS = "too_many_clients"
E_STORAGE = "storage_failed"  # hal could not persist what it was asked to keep

# Roles a client takes in `hello`. One controlling client (evse) may command power and
# its keep-alive is the one supervised; observers (diagnostics, tests) only read.
ROLE_CONTROLLER = "controller"
ROLE_OBSERVER = "observer"


@dataclass(frozen=True, slots=True)
class Message:
    TYPE: ClassVar[str] = ""


# ---- evse -> hal -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello(Message):
    TYPE: ClassVar[str] = "hello"
    version: int
    client: str
    role: str = ROLE_CONTROLLER  # "controller" | "observer"


@dataclass(frozen=True, slots=True)
class KeepAlive(Message):
    TYPE: ClassVar[str] = "keepalive"
    seq: int


@dataclass(frozen=True, slots=True)
class PowerRequest(Message):
    """`setpoint`: follow setpoint_w. `limits`: hal may pick any power in [min_w, max_w]
    (it takes max_w, then the grid functions act within the range).

    `operation_mode` (OCPP 2.1 OperationModeEnumType, "" = none given): with
    "LocalFrequency" hal sets, on every sample, baseline_w + freq_watt(f) (linear between
    the {frequency, power} points, flat beyond the ends) within [min_w, max_w], computed
    anew only when f moved by `freq_threshold_hz` or more since (0: every sample; OCPP
    LocalFrequencyUpdateThreshold); any other mode is executed by evse and hal follows
    setpoint/limits as above."""

    TYPE: ClassVar[str] = "power_request"
    evse_id: int
    mode: str  # "setpoint" | "limits"
    setpoint_w: float
    min_w: float
    max_w: float
    operation_mode: str = ""
    baseline_w: float = 0.0
    freq_watt: list[dict[str, Any]] = field(default_factory=list)
    freq_threshold_hz: float = 0.0


@dataclass(frozen=True, slots=True)
class DerDirectives(Message):
    """The full set of active DER controls (never a diff), OCPP DERControl-shaped dicts."""

    TYPE: ClassVar[str] = "der_directives"
    directives: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PilotCommand(Message):
    """Control-pilot PWM duty in percent: 0 = state F, 100 = X1 (no PWM), 5 = digital."""

    TYPE: ClassVar[str] = "pilot"
    evse_id: int
    duty_pct: float


@dataclass(frozen=True, slots=True)
class AllowPowerOn(Message):
    TYPE: ClassVar[str] = "allow_power_on"
    evse_id: int
    allow: bool
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectorLock(Message):
    """Lock or unlock the connector (OCPP UnlockConnector). Answered by `ack` when the MCU
    confirms, by `error` otherwise."""

    TYPE: ClassVar[str] = "connector_lock"
    evse_id: int
    locked: bool


# -- DC (ISO 15118-20 DC / DC_BPT): additive, no version bump; see docs/hal-contract.md --

DC_KINDS = ("off", "cable_check", "precharge", "deliver", "welding_check")


@dataclass(frozen=True, slots=True)
class DcCommand(Message):
    """What the DC output should do next: `off`, `cable_check` (isolation check, IEC
    61851-23), `precharge` to `target_v`, `deliver` at `target_v` / `target_a` (signed:
    - discharges; the current is further capped by hal's setpoint, i.e. the grid
    constraint), `welding_check` (output off, its voltage reported). Answered by `ack`;
    `error` `rejected` for an EVSE without a DC stage or an unknown kind."""

    TYPE: ClassVar[str] = "dc_command"
    evse_id: int
    kind: str
    target_v: float = 0.0
    target_a: float = 0.0


@dataclass(frozen=True, slots=True)
class DcReport(Message):
    """hal -> evse, DC EVSEs only, every report period and on a change of `isolation` or
    `precharge_done`: the output as measured now (`valid` False: the stage did not answer)."""

    TYPE: ClassVar[str] = "dc_report"
    evse_id: int
    kind: str  # the command in force
    present_v: float
    present_a: float
    isolation: str  # unknown | ongoing | valid | warning | fault
    precharge_done: bool
    welding_v: float | None = None
    valid: bool = True


# ---- hal -> evse -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome(Message):
    TYPE: ClassVar[str] = "welcome"
    version: int
    evses: list[dict[str, Any]]  # capabilities per EVSE (id, kind, ratings, phases)
    directive_ids: list[str]  # the DER directives hal enforces now (restored at start)
    # The state in force per EVSE, so a (re)connecting evse rebuilds its view at once:
    # {evse_id, cp_state, pp_ampacity_a, contactor_closed, allow, requested_w,
    #  keepalive_ok, faults: [{device, reason}], grid: {state, p_min_w, p_max_w, q_var},
    #  alarms: [{controlType, gridEventFault, since}] (optional: DER alarms in force)}
    state: list[dict[str, Any]] = field(default_factory=list)
    role: str = ROLE_CONTROLLER  # the role this connection got
    # R05: hal's last DER alarm edges (bounded, oldest first, kept across hal restarts):
    # {seq, evse_id, kind: der_alarm | der_alarm_ended, <that event's data>}; `seq`
    # grows and never repeats, so evse takes those it has not queued yet.
    alarm_history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Measurement(Message):
    TYPE: ClassVar[str] = "measurement"
    evse_id: int
    voltage_v: list[float]
    frequency_hz: float
    active_w: float  # measured at the power stage
    reactive_var: float
    setpoint_w: float  # what hal commands the stage now
    requested_w: float  # what evse asked (after keep-alive handling)
    import_wh: float
    export_wh: float
    cp_state: str
    contactor_closed: bool
    # False until the meter has been read since hal started, and while it is in fault:
    # import_wh/export_wh are then not a register reading and must not be billed.
    energy_valid: bool = False
    grid_valid: bool = False  # a grid sample from the MCU backs voltage_v/frequency_hz


@dataclass(frozen=True, slots=True)
class Event(Message):
    """kind: cp_state, contactor, fault, fault_cleared, der_alarm, der_alarm_ended,
    keepalive_lost, keepalive_restored. `data` holds the kind's details; der_alarm(_ended)
    {controlType, gridEventFault, extraInfo, timestamp (optional, ISO 8601 UTC),
    seq (optional: the edge's number in Welcome.alarm_history)}.

    `fault` {device, reason} / `fault_cleared` {device}: `device` names what failed: a
    configured device name, or one of FAULT_* below for a condition hal detects itself."""

    TYPE: ClassVar[str] = "event"
    evse_id: int
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GridConstraintReport(Message):
    TYPE: ClassVar[str] = "grid_constraint"
    evse_id: int
    state: str  # normal | ceased | tripped | entering_service
    p_min_w: float
    p_max_w: float
    q_var: float


@dataclass(frozen=True, slots=True)
class DirectiveResult(Message):
    TYPE: ClassVar[str] = "directive_result"
    accepted: list[str]
    rejected: list[dict[str, Any]]  # {"id": str, "reason": str}


@dataclass(frozen=True, slots=True)
class Error(Message):
    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    ref_type: str | None = None
    evse_id: int | None = None  # the EVSE a refused per-EVSE request was for


@dataclass(frozen=True, slots=True)
class Ack(Message):
    """Acknowledges a request that has no other answer (power, pilot, allow)."""

    TYPE: ClassVar[str] = "ack"
    ref_type: str
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class GridMeterReport(Message):
    TYPE: ClassVar[str] = "grid_meter"  # the grid connection meter, every report period
    active_w: list[float]  # per phase, + imports from the grid
    total_w: float
    import_wh: float
    export_wh: float
    valid: bool  # False: not read since start, in fault, or stale: no reading
    seq: int  # +1 per new reading (reports repeat the latest between readings)


# `fault` devices for conditions rather than devices (see docs/hal-contract.md).
FAULT_GRID_SAMPLE = "grid_sample"  # no grid measurement: the unit ceases to energize
FAULT_STAGE_STATUS = "stage_status"  # the power stage reports its own fault / alarms
FAULT_CONTACTOR = "contactor"  # mirror contact disagrees with the command (welded/stuck)
FAULT_RCD = "rcd"  # residual-current device tripped
FAULT_MCU_FLAGS = "mcu_flags"  # the MCU reports error flags


# The codec needs the classes above; it lives beside (hal/protocol_codec.py) and is part
# of the contract: import it from here.
from hal.protocol_codec import (  # noqa: E402
    MESSAGE_TYPES as MESSAGE_TYPES,
)
from hal.protocol_codec import (  # noqa: E402
    FrameDecoder as FrameDecoder,
)
from hal.protocol_codec import (  # noqa: E402
    decode_message as decode_message,
)
from hal.protocol_codec import (  # noqa: E402
    encode_message as encode_message,
)
from hal.protocol_codec import (  # noqa: E402
    encode_raw as encode_raw,
)
