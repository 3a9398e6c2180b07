"""The one place the hal loop asks "what may this power stage do right now?".

`GridEngine.step()` is called once per sample with the latest grid measurement and the
power evse requests; it returns the power-stage setpoint and the grid constraint that
hal reports to evse. Pure: no I/O, `now` is passed in.

Foundation version: clamps the request to the unit's range. The DER functions
(trip, cessation, enter service, droop, volt-var, ...) plug in here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hal.devices.base import GridSample, PowerStageRating
from hal.grid.settings import GridSettings


class GridState(StrEnum):
    NORMAL = "normal"
    CEASED = "ceased"
    TRIPPED = "tripped"
    ENTERING_SERVICE = "entering_service"


@dataclass(frozen=True, slots=True)
class GridConstraint:
    state: GridState
    p_min_w: float  # most negative allowed (discharge), <= 0
    p_max_w: float  # most positive allowed (charge), >= 0
    q_var: float  # reactive power request, + injects


@dataclass(frozen=True, slots=True)
class GridAlarm:
    control_type: str  # OCPP DERControlEnumType value, e.g. "HVMustTrip"
    grid_event_fault: str  # OCPP GridEventFaultEnumType value, e.g. "OverVoltage"
    ended: bool
    extra_info: str = ""


@dataclass(frozen=True, slots=True)
class GridDecision:
    setpoint_w: float
    reactive_var: float
    contactor_allowed: bool  # False: open the contactors now (trip)
    constraint: GridConstraint
    alarms: tuple[GridAlarm, ...] = ()


@dataclass(frozen=True, slots=True)
class DirectiveRejection:
    directive_id: str
    reason: str


class GridEngine:
    def __init__(self, rating: PowerStageRating, settings: GridSettings) -> None:
        self._rating = rating
        self._settings = settings
        self._directives: list[Mapping[str, Any]] = []

    @property
    def directives(self) -> Sequence[Mapping[str, Any]]:
        return tuple(self._directives)

    def set_directives(
        self, directives: Sequence[Mapping[str, Any]], now: float
    ) -> list[DirectiveRejection]:
        """Replace the full set of active DER directives; return the ones refused."""
        rejected: list[DirectiveRejection] = []
        accepted: list[Mapping[str, Any]] = []
        for d in directives:
            did = str(d.get("id", ""))
            if not did:
                rejected.append(DirectiveRejection(did, "missing id"))
            elif not isinstance(d.get("controlType"), str):
                rejected.append(DirectiveRejection(did, "missing controlType"))
            else:
                accepted.append(d)
        self._directives = accepted
        return rejected

    def step(
        self, now: float, sample: GridSample | None, requested_w: float, measured_w: float
    ) -> GridDecision:
        lo = -self._rating.max_discharge_w
        hi = self._rating.max_charge_w
        setpoint = min(max(requested_w, lo), hi)
        constraint = GridConstraint(GridState.NORMAL, lo, hi, 0.0)
        return GridDecision(setpoint, 0.0, True, constraint)
