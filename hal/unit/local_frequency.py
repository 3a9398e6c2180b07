"""LocalFrequency (OCPP 2.1 Q08, FCR) executed in hal: on every sample the power is
v2xBaseline + the freq-watt curve at the measured frequency, within the request's range.

Why in hal: the frequency is measured here, once per sample; a round trip through evse
would add its latency and stop when evse stops. The grid engine still acts after this
(droop, limits, trips) and the stage's rating bounds it, like any requested power.

Keep-alive loss (decision, docs/hal-contract.md): frequency support is a grid service
the CSMS contracted for; it keeps running for `hal.local_frequency_hold_s` after evse went
silent (as Q11 keeps a LocalFrequency profile valid while the station is offline), then
the normal ramp to zero. AC units stop at once as before: the pilot goes to X1 (IEC
61851-1) and the car's inverter no longer follows us.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from hal.protocol import E_INVALID_FIELD, PowerRequest, ProtocolError

LOCAL_FREQUENCY = "LocalFrequency"
# OperationModeEnumType (OCPP 2.1); "" = a request without a mode (protocol 2).
OPERATION_MODES = frozenset(
    {
        "",
        "Idle",
        "ChargingOnly",
        "CentralSetpoint",
        "ExternalSetpoint",
        "ExternalLimits",
        "CentralFrequency",
        LOCAL_FREQUENCY,
        "LocalLoadBalancing",
    }
)
MAX_POINTS = 20  # v2xFreqWattCurve maxItems


def _points(raw: list[dict[str, Any]]) -> tuple[tuple[float, float], ...]:
    pts: list[tuple[float, float]] = []
    for i, p in enumerate(raw):
        f, w = p.get("frequency"), p.get("power")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (f, w)):
            raise ProtocolError(
                E_INVALID_FIELD, f"power_request.freq_watt[{i}]: frequency and power numbers"
            )
        pts.append((float(f), float(w)))  # type: ignore[arg-type]
    pts.sort()
    if not 2 <= len(pts) <= MAX_POINTS:
        # Q08.FR.02: at least two points (NoFreqWattCurve on the OCPP side).
        raise ProtocolError(E_INVALID_FIELD, "power_request.freq_watt: 2 to 20 points")
    if any(a[0] == b[0] for a, b in itertools.pairwise(pts)):
        raise ProtocolError(E_INVALID_FIELD, "power_request.freq_watt: repeated frequency")
    return tuple(pts)


@dataclass(slots=True)
class LocalFrequency:
    baseline_w: float
    curve: tuple[tuple[float, float], ...]
    min_w: float
    max_w: float
    # LocalFrequencyUpdateThreshold (OCPP 2.1 Part 2 appendix: "the amount of change in
    # net frequency needed to trigger a recalculation of the setpoint"), in Hz.
    threshold_hz: float = 0.0
    used_hz: float | None = None  # the frequency of the last recalculation

    @classmethod
    def from_request(cls, msg: PowerRequest) -> LocalFrequency | None:
        """The LocalFrequency a request asks for (None: another mode); ProtocolError when
        the request cannot be executed."""
        if msg.operation_mode not in OPERATION_MODES:
            raise ProtocolError(
                E_INVALID_FIELD, f"power_request.operation_mode: {msg.operation_mode!r}"
            )
        if msg.operation_mode != LOCAL_FREQUENCY:
            return None
        lo, hi = sorted((msg.min_w, msg.max_w))
        if not 0.0 <= msg.freq_threshold_hz <= 1.0:
            why = f"power_request.freq_threshold_hz: {msg.freq_threshold_hz} not in [0, 1]"
            raise ProtocolError(E_INVALID_FIELD, why)
        return cls(msg.baseline_w, _points(msg.freq_watt), lo, hi, msg.freq_threshold_hz)

    def power_at(self, frequency_hz: float) -> float:
        """baseline + curve(f), linear between points and flat beyond the ends, within
        [min_w, max_w]; f as of the last recalculation while it moved less than the
        threshold since."""
        used = self.used_hz
        if used is None or abs(frequency_hz - used) >= self.threshold_hz - 1e-9:  # float noise
            self.used_hz = used = frequency_hz
        frequency_hz = used
        pts = self.curve
        w = pts[-1][1]
        if frequency_hz <= pts[0][0]:
            w = pts[0][1]
        else:
            for (f0, w0), (f1, w1) in itertools.pairwise(pts):
                if frequency_hz <= f1:
                    w = w0 + (w1 - w0) * (frequency_hz - f0) / (f1 - f0)
                    break
        return min(max(self.baseline_w + w, self.min_w), self.max_w)
