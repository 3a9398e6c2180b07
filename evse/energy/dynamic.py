"""Q04 dynamic schedules: apply an update, and decide when to pull the next one.

Pure, with `now` passed in. A Dynamic profile's period in force carries the values a
CSMS updates (UpdateDynamicSchedule) or the station fetches every dynUpdateInterval
seconds after the last update (PullDynamicScheduleUpdate).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from evse.energy.composite import schedule_start

# ChargingScheduleUpdateType: the fields an update may set.
UPDATE_KEYS = (
    "limit",
    "limit_L2",
    "limit_L3",
    "dischargeLimit",
    "dischargeLimit_L2",
    "dischargeLimit_L3",
    "setpoint",
    "setpoint_L2",
    "setpoint_L3",
    "setpointReactive",
    "setpointReactive_L2",
    "setpointReactive_L3",
)


def apply_update(
    profile: Mapping[str, Any], update: Mapping[str, Any], now_utc: datetime, stamp: str
) -> dict[str, Any]:
    """A copy of `profile` whose period in force at `now_utc` (the first one if none is
    yet) carries the update's fields, with dynUpdateTime = `stamp`. Fields the update
    leaves out keep their value."""
    new = copy.deepcopy(dict(profile))
    schedule = new["chargingSchedule"][0]
    periods = schedule["chargingSchedulePeriod"]
    target = periods[0]
    start = schedule_start(new, now_utc, now_utc)
    if start is not None:
        offset = (now_utc - start).total_seconds()
        for period in periods:
            if period["startPeriod"] <= offset:
                target = period
    for key in UPDATE_KEYS:
        if key in update:
            target[key] = update[key]
    new["dynUpdateTime"] = stamp
    return new


def pull_interval(profile: Mapping[str, Any]) -> int | None:
    """Seconds between pulls for this profile, None when it asks for none."""
    if profile.get("chargingProfileKind") != "Dynamic":
        return None
    interval = profile.get("dynUpdateInterval")
    return int(interval) if interval else None  # 0 or absent: no update interval


def next_pull(
    intervals: Mapping[int, int], last_update: Mapping[int, float], now: float
) -> tuple[int, float] | None:
    """The profile to pull next and when (monotonic seconds): dynUpdateInterval after
    its last update (or after `now` for one never updated). None: nothing to pull."""
    best: tuple[int, float] | None = None
    for profile_id, interval in sorted(intervals.items()):
        due = last_update.get(profile_id, now) + interval
        if best is None or due < best[1]:
            best = (profile_id, due)
    return best
