"""K08 composite schedule cost: 100 charging profiles on one EVSE.

Two numbers: `active_period` (what the energy manager asks on every decision) and a
24 h `composite_schedule` (GetCompositeSchedule), median and p99 over repeated runs.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from evse.energy.composite import EvseContext, InstalledProfile, active_period, composite_schedule

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _profiles(n: int) -> list[InstalledProfile]:
    out = []
    for i in range(1, n + 1):
        kind = "Recurring" if i % 3 == 0 else "Absolute"
        extra: dict[str, Any] = {"recurrencyKind": "Daily"} if kind == "Recurring" else {}
        periods = [
            {"startPeriod": 0, "limit": 11000.0 - i, "operationMode": "ChargingOnly"},
            {"startPeriod": 600 * i, "limit": 4000.0 + i},
            {"startPeriod": 600 * i + 900, "limit": 7000.0},
        ]
        purpose = ("TxDefaultProfile", "ChargingStationExternalConstraints")[i % 2]
        profile = {
            "id": i,
            "stackLevel": i % 9,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind,
            "validFrom": (T0 - timedelta(days=1)).isoformat(),
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "W",
                    "startSchedule": T0.isoformat(),
                    "chargingSchedulePeriod": periods,
                }
            ],
            **extra,
        }
        out.append(InstalledProfile(1 if i % 2 else 0, profile))
    return out


def _timed(fn: Any, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> int:
    profiles = _profiles(100)
    ctx = EvseContext()
    now = T0 + timedelta(hours=5)
    med, p99 = _timed(lambda: active_period(profiles, 1, now, ctx), 500)
    print(f"active_period, 100 profiles: median {med * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms")
    periods = composite_schedule(profiles, 1, T0, 86400, "W", ctx)
    med, p99 = _timed(lambda: composite_schedule(profiles, 1, T0, 86400, "W", ctx), 20)
    print(
        f"composite_schedule 24 h, 100 profiles ({len(periods)} periods out): "
        f"median {med * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms"
    )
    return 0
