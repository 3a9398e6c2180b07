"""Interface protection of one sample: must-trip stages, 10-minute mean, power
monitoring, and momentary cessation, evaluated together so every timer sees every
sample (a trip does not freeze the other timers; enter-service decides the return).

May-trip curves (HVMayTrip, LVMayTrip, HFMayTrip) are validated and kept but never
trip the unit: between may-trip and must-trip IEEE 1547-2018 lets the DER choose, and
we choose to ride through, which is what the grid needs from many small units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hal.grid.controls import LimitMaxDischargeSpec, MeanSpec, Spec, TripControl
from hal.grid.mean_overvoltage import MeanOverVoltage
from hal.grid.momentary_cessation import MomentaryCessation
from hal.grid.must_trip import StageCurve, StageTimers

FAULT = {
    "HVMustTrip": "OverVoltage",
    "LVMustTrip": "UnderVoltage",
    "HFMustTrip": "OverFrequency",
    "LFMustTrip": "UnderFrequency",
    "HVMomCess": "OverVoltage",
    "LVMomCess": "UnderVoltage",
    # No over-power fault in GridEventFaultEnumType; discharge above the monitored
    # power is an over-current at the grid connection.
    "PowerMonitoringMustTrip": "OverCurrent",
}
MUST_TRIP = ("HVMustTrip", "LVMustTrip", "HFMustTrip", "LFMustTrip")
MOM_CESS = ("HVMomCess", "LVMomCess")


@dataclass(frozen=True, slots=True)
class Trip:
    control_type: str
    fault: str
    extra: str


@dataclass(frozen=True, slots=True)
class ProtectionResult:
    trip: Trip | None  # a must-trip fired on this sample
    ceased: tuple[str, ...]  # cessation control types holding the unit ceased
    reactive_during_cessation: bool


class Protection:
    def __init__(self) -> None:
        self._specs: dict[str, object] = {}
        self._trips: dict[str, StageTimers] = {}
        self._cess: dict[str, MomentaryCessation] = {}
        self._mean: MeanOverVoltage | None = None
        self._monitor: StageTimers | None = None
        self._reactive: dict[str, bool] = {}

    def configure(self, controls: Mapping[str, Spec], mean: MeanSpec | None) -> None:
        """Apply a new control set; functions whose spec is unchanged keep their timers."""
        for ctype in (*MUST_TRIP, *MOM_CESS):
            spec = controls.get(ctype)
            curve = spec.curve if isinstance(spec, TripControl) else None
            reactive = isinstance(spec, TripControl) and spec.reactive_during_cessation
            key = (curve, reactive)
            if ctype in self._specs and self._specs[ctype] == key:
                continue
            self._specs[ctype] = key
            self._trips.pop(ctype, None)
            self._cess.pop(ctype, None)
            self._reactive[ctype] = reactive
            if curve is not None and ctype in MUST_TRIP:
                self._trips[ctype] = StageTimers(curve)
            elif curve is not None:
                self._cess[ctype] = MomentaryCessation(curve)
        if self._specs.get("mean") != mean:
            self._specs["mean"] = mean
            self._mean = MeanOverVoltage(mean.threshold_pct, mean.trip_delay_s) if mean else None
        monitor = _monitor_curve(controls)
        if self._specs.get("monitor") != monitor:
            self._specs["monitor"] = monitor
            self._monitor = StageTimers(monitor) if monitor else None

    def update(
        self, v_pct: Sequence[float], freq_hz: float, discharge_pct: float, now: float
    ) -> ProtectionResult:
        trip: Trip | None = None
        for ctype, timers in self._trips.items():
            values = v_pct if ctype[1] == "V" else (freq_hz,)
            stage = timers.update(values, now)
            if stage is not None and trip is None:
                trip = Trip(
                    ctype, FAULT[ctype], f"stage {stage.threshold:g} for {stage.clearing_s:g} s"
                )
        if self._mean is not None and self._mean.update(v_pct, now) and trip is None:
            mean = max(self._mean.mean_pct)
            trip = Trip(
                "HVMustTrip",
                "OverVoltage",
                f"10-min mean {mean:.1f} % above {self._mean.threshold_pct:g} %",
            )
        if self._monitor is not None:
            stage = self._monitor.update((discharge_pct,), now)
            if stage is not None and trip is None:
                trip = Trip(
                    "PowerMonitoringMustTrip",
                    FAULT["PowerMonitoringMustTrip"],
                    f"discharge above {stage.threshold:g} % for {stage.clearing_s:g} s",
                )
        ceased = tuple(ct for ct, mc in self._cess.items() if mc.update(v_pct, now))
        reactive = bool(ceased) and all(self._reactive.get(ct, False) for ct in ceased)
        return ProtectionResult(trip, ceased, reactive)

    def after_trip(self) -> None:
        if self._mean is not None:
            self._mean.reset()


def _monitor_curve(controls: Mapping[str, Spec]) -> StageCurve | None:
    pm = controls.get("PowerMonitoringMustTrip")
    if isinstance(pm, TripControl):
        return pm.curve
    lmd = controls.get("LimitMaxDischarge")
    if isinstance(lmd, LimitMaxDischargeSpec):
        return lmd.power_monitoring
    return None
