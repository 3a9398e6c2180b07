"""The device interfaces of hal: what the loop needs from an MCU, a power stage and a meter.

Kept deliberately small so a new transport (Modbus, serial, CAN) is one class. Every
call may raise `DeviceError`; the daemon treats that as a device fault and goes safe.
Sign convention everywhere: positive active power charges the car (import from grid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class DeviceError(Exception):
    """A device did not answer, answered garbage, or reported an error."""

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(f"{device}: {reason}")
        self.device = device
        self.reason = reason


class CpState(StrEnum):
    """IEC 61851-1 control pilot states."""

    A = "A"  # +12 V, no EV
    B = "B"  # +9 V, EV connected
    C = "C"  # +6 V, charging
    D = "D"  # +3 V, charging with ventilation
    E = "E"  # 0 V, fault / short
    F = "F"  # -12 V, EVSE not available


@dataclass(frozen=True, slots=True)
class GridSample:
    """One fast grid measurement (from the MCU or the power stage)."""

    t: float  # time.monotonic() of the sample
    voltage_v: tuple[float, ...]  # line-to-neutral RMS per phase
    frequency_hz: float


@dataclass(frozen=True, slots=True)
class PowerStageRating:
    max_charge_w: float  # > 0
    max_discharge_w: float  # > 0 (magnitude); 0 for a charge-only stage
    max_var: float  # reactive capability magnitude, 0 if none
    phases: int


@dataclass(frozen=True, slots=True)
class PowerStageState:
    active_w: float  # measured at the stage, + charges the car
    reactive_var: float  # + injects (over-excited) into the grid
    setpoint_w: float  # what the stage is currently following
    ready: bool
    faults: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class McuState:
    cp_state: CpState
    pwm_duty_pct: float  # 0 = state F generated, 100 = X1 (no PWM)
    pp_ampacity_a: float | None  # from the proximity resistor, None if no plug
    contactor_closed: bool  # confirmed by mirror contact / voltage sensing
    rcd_tripped: bool
    errors: frozenset[str]  # e.g. "diode_fault", "overcurrent", "welded_contactor"
    grid: GridSample | None  # fast grid measurement, if this MCU provides one


@dataclass(frozen=True, slots=True)
class MeterReading:
    voltage_v: tuple[float, ...]
    current_a: tuple[float, ...]
    active_w: tuple[float, ...]  # per phase, + = import (charging)
    reactive_var: float
    power_factor: float
    frequency_hz: float
    import_wh: float
    export_wh: float
    # Per-phase Q and PF where the meter provides them (empty otherwise).
    reactive_var_phase: tuple[float, ...] = ()
    power_factor_phase: tuple[float, ...] = ()

    @property
    def total_w(self) -> float:
        return sum(self.active_w)


class Mcu(Protocol):
    name: str

    async def read_state(self) -> McuState: ...
    async def set_pwm(self, duty_pct: float) -> None: ...
    async def set_contactor(self, closed: bool, reason: str) -> None: ...
    async def set_lock(self, locked: bool) -> None: ...
    async def rcd_command(self, cmd: str) -> None: ...  # "selftest" | "reset"
    async def set_trip(
        self, oc_a: float, v_min: float, v_max: float, f_min: float, f_max: float, t_ms: int
    ) -> None: ...
    async def keepalive(self) -> None: ...
    async def close(self) -> None: ...


class PowerStage(Protocol):
    name: str
    rating: PowerStageRating

    async def set_power(self, active_w: float, reactive_var: float) -> None: ...
    async def read_state(self) -> PowerStageState: ...
    async def push_protection(self, settings: dict[str, Any]) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DcStageState:
    """The DC output of a DC power stage (ISO 15118-20 DC, IEC 61851-23)."""

    kind: str  # the command in force (hal.protocol.DC_KINDS)
    present_v: float
    present_a: float  # + into the car
    isolation: str  # unknown | ongoing | valid | warning | fault
    precharge_done: bool
    welding_v: float | None = None


class DcStage(Protocol):
    """A power stage with a DC output: besides `PowerStage`, the DC commands. The current
    it delivers never exceeds what `set_power` allows (hal's grid-constrained setpoint)."""

    name: str

    async def set_dc(self, kind: str, target_v: float, target_a: float) -> None: ...
    async def read_dc(self) -> DcStageState: ...


class EnergyMeter(Protocol):
    name: str

    async def read(self) -> MeterReading: ...
    async def close(self) -> None: ...


@dataclass(slots=True)
class DeviceSet:
    """The devices of one EVSE, as the hal loop sees them."""

    mcu: Mcu
    stage: PowerStage
    meter: EnergyMeter
    dc: DcStage | None = None  # the stage's DC output, for a DC EVSE that has one
