"""Smart charging (K01, K08-K10) and dynamic schedules (Q04): the CSMS's charging profiles.

Validation rules live in profile_validation.py, the composite schedule in
evse/energy/composite.py, the Q04 arithmetic in evse/energy/dynamic.py; this block owns
the installed profiles (memory + SQLite), answers the CSMS and pulls dynamic updates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from evse.energy.composite import EvseContext, InstalledProfile, composite_schedule
from evse.energy.dynamic import apply_update, next_pull, pull_interval
from evse.energy.offline_fallback import period_in_force
from evse.energy.types import SchedulePeriod
from evse.ocpp.clock import Clock, iso, wait_for
from evse.ocpp.device_model import DeviceModel
from evse.ocpp.endpoint import CallTimeout, ConnectionLost, OcppCallError, Reply
from evse.ocpp.ev_charging_needs import EvChargingNeeds
from evse.ocpp.priority_charging import PriorityCharging
from evse.ocpp.profile_store import ProfileStore
from evse.ocpp.profile_validation import OPERATION_MODES, StationLimits, validate
from evse.ocpp.transactions import Transactions
from evse.ocpp.v2x_authorization import V2xAuthorization
from evse.store import Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]
PROFILES_PER_REPORT = 4  # K09: ReportChargingProfiles chunk size (tbc on all but the last)


class SmartCharging:
    def __init__(
        self,
        dm: DeviceModel,
        store: Store,
        clock: Clock,
        tx: Transactions,
        push: Callable[[str, Payload], None],
        call: Callable[[str, Payload], Awaitable[Payload]],
        offline_for: Callable[[], float | None],
        allowed_for_token: Callable[[Payload], list[str] | None] = lambda _: None,
    ) -> None:
        self._dm = dm
        self._clock = clock
        self._tx = tx
        self._push = push
        self._call = call
        self._offline_for = offline_for
        self._db = ProfileStore(store)
        self.v2x = V2xAuthorization(store, tx, allowed_for_token, lambda: self.on_change())
        self.priority = PriorityCharging(store, tx, self.installed, push, lambda: self.on_change())
        self.needs = EvChargingNeeds(call, clock, lambda: tx.evses)  # K15/K17, Q01/Q02
        self.profiles: dict[int, InstalledProfile] = {ip.id: ip for ip in self._db.load()}
        now = clock.monotonic()
        # Q04: monotonic time of each Dynamic profile's last update (restart counts as one).
        self._last_update: dict[int, float] = dict.fromkeys(self.profiles, now)
        self._changed = asyncio.Event()
        # Called after every change of the profiles (or of V2X permissions): the station
        # recomputes its power requests at once, not at its next cycle (Q04 latency).
        self.on_change: Callable[[], None] = lambda: None
        self._tx_starts: dict[str, datetime] = {}
        self._count_entries()

    # -- state ------------------------------------------------------------------------

    def installed(self) -> list[InstalledProfile]:
        return list(self.profiles.values())

    def _count_entries(self) -> None:
        slot = self._dm.find("SmartChargingCtrlr", "Entries", instance="ChargingProfiles")
        if slot is not None:
            self._dm.set_internal(slot, str(len(self.profiles)))

    def _store(self, ip: InstalledProfile) -> None:
        self._db.put(ip)
        self.profiles[ip.id] = ip
        self._last_update[ip.id] = self._clock.monotonic()
        self._count_entries()
        self._changed.set()
        self.on_change()

    def _remove(self, ids: list[int]) -> None:
        self._db.delete(ids)
        for i in ids:
            self.profiles.pop(i, None)
            self._last_update.pop(i, None)
        self._count_entries()
        self._changed.set()
        self.on_change()

    def _transactions(self) -> dict[int, str | None]:
        return {e: st.transaction_id for e, st in self._tx.evses.items()}

    def _prune_ended_transactions(self) -> None:
        # K01: a TxProfile lives as long as its transaction.
        running = set(self._transactions().values())
        ended = [
            ip.id
            for ip in self.profiles.values()
            if ip.purpose == "TxProfile" and ip.profile.get("transactionId") not in running
        ]
        if ended:
            self._remove(ended)

    def _limits(self) -> StationLimits:
        modes: dict[int, list[str]] = {}
        for evse_id in self._tx.evses:
            slot = self._dm.find("V2XChargingCtrlr", "SupportedOperationModes", evse_id)
            value = None if slot is None else self._dm.value(slot)
            # Q09.FR.01: the modes the EVSE lists; without the variable all eight.
            modes[evse_id] = list(OPERATION_MODES) if value is None else value.split(",")
        return StationLimits(
            evse_ids=frozenset(self._tx.evses),
            max_stack_level=self._int("ProfileStackLevel", 8),
            rate_units=tuple(self._list("RateUnit", ["A", "W"])),
            periods_per_schedule=self._int("PeriodsPerSchedule", 48),
            supported_modes=modes,
        )

    def _int(self, variable: str, default: int) -> int:
        slot = self._dm.find("SmartChargingCtrlr", variable)
        value = None if slot is None else self._dm.value(slot)
        return default if value is None else int(float(value))

    def _list(self, variable: str, default: list[str]) -> list[str]:
        slot = self._dm.find("SmartChargingCtrlr", variable)
        value = None if slot is None else self._dm.value(slot)
        return default if value is None else [v for v in value.split(",") if v]

    def _context(self, evse_id: int) -> EvseContext:
        st = self._tx.evses.get(evse_id)
        tx_id = None if st is None else st.transaction_id
        running = set(self._transactions().values())
        for old in [t for t in self._tx_starts if t not in running]:
            del self._tx_starts[old]
        # Relative profiles count from the transaction's start, as first seen here (not
        # kept across a restart: a Relative schedule then starts over).
        start = None if tx_id is None else self._tx_starts.setdefault(tx_id, self._clock.wall())
        offline_s = self._offline_for()
        if offline_s is not None:
            self._invalidate_offline(offline_s)
        prio = self.priority.active(tx_id)  # K21/K22: PriorityCharging leads while on
        return EvseContext(tx_id, start, offline_s, prio)

    def _invalidate_offline(self, offline_s: float) -> None:
        """Q11: a profile with invalidAfterOfflineDuration stays invalid once offline longer
        than its maxOfflineDuration, also after the connection is back (kept in SQLite)."""
        for ip in self.installed():
            p = ip.profile
            limit = p.get("maxOfflineDuration")
            expired = limit is not None and offline_s >= limit
            if expired and p.get("invalidAfterOfflineDuration") and not ip.invalid:
                self._store(replace(ip, invalid=True))

    def current_period(self, evse_id: int) -> SchedulePeriod | None:
        """The merged period in force on the EVSE now (the energy manager's input), with
        the offline fallback of Q11/Q12 applied to the real connection state."""
        ctx = self._context(evse_id)
        period = period_in_force(
            self.installed(), evse_id, self._clock.wall(), ctx, self._clock.monotonic()
        )
        if period is not None and period.get("operationMode") == "LocalFrequency":
            slot = self._dm.find("V2XChargingCtrlr", "LocalFrequencyUpdateThreshold", evse_id)
            mhz = None if slot is None else self._dm.value(slot)
            if mhz:  # Q08: hal recalculates only when f moved this much
                period = {**period, "localFrequencyUpdateThreshold": int(mhz)}
        return period

    # -- K01 SetChargingProfile ---------------------------------------------------------

    async def on_set_charging_profile(self, req: Payload) -> Payload:
        evse_id = int(req["evseId"])
        profile = req["chargingProfile"]
        self._prune_ended_transactions()
        rejection = validate(
            evse_id, profile, self.installed(), self._limits(), self._transactions()
        )
        self._context(evse_id)  # a running transaction's start is known from here on
        if rejection is not None:
            log.info("SetChargingProfile %s rejected: %s", profile["id"], rejection.info)
            return {"status": "Rejected", "statusInfo": rejection.status_info()}
        if profile["chargingProfileKind"] == "Dynamic" and "dynUpdateTime" not in profile:
            profile = {**profile, "dynUpdateTime": iso(self._clock.wall())}
        self._store(InstalledProfile(evse_id, profile))  # K01.FR.05: same id replaces
        return {"status": "Accepted"}

    # -- K09 GetChargingProfiles / ReportChargingProfiles -------------------------------

    async def on_get_charging_profiles(self, req: Payload) -> Payload | Reply:
        self._prune_ended_transactions()
        found = [ip for ip in self.installed() if _matches(ip, req)]
        if not found:
            return {"status": "NoProfiles"}
        request_id = int(req["requestId"])
        groups: dict[tuple[int, str], list[InstalledProfile]] = {}
        for ip in sorted(found, key=lambda x: (x.evse_id, x.source, x.id)):
            groups.setdefault((ip.evse_id, ip.source), []).append(ip)
        messages: list[Payload] = []
        for (evse_id, source), items in groups.items():
            for i in range(0, len(items), PROFILES_PER_REPORT):
                chunk = items[i : i + PROFILES_PER_REPORT]
                messages.append(
                    {
                        "requestId": request_id,
                        "chargingLimitSource": source,
                        "evseId": evse_id,
                        "chargingProfile": [dict(ip.profile) for ip in chunk],
                    }
                )
        for n, message in enumerate(messages):
            message["tbc"] = n < len(messages) - 1

        async def then() -> None:
            for message in messages:
                self._push("ReportChargingProfiles", message)

        return Reply({"status": "Accepted"}, then)

    # -- K10 ClearChargingProfile -------------------------------------------------------

    async def on_clear_charging_profile(self, req: Payload) -> Payload:
        profile_id = req.get("chargingProfileId")
        criteria = req.get("chargingProfileCriteria", {})
        hits = []
        for ip in self.installed():
            if ip.source != "CSO":
                continue  # limits set by an EMS or the SO are not the CSMS's to clear
            if profile_id is not None:
                if ip.id == profile_id:
                    hits.append(ip.id)
                continue
            if "evseId" in criteria and ip.evse_id != criteria["evseId"]:
                continue
            if criteria.get("chargingProfilePurpose", ip.purpose) != ip.purpose:
                continue
            if criteria.get("stackLevel", ip.stack_level) != ip.stack_level:
                continue
            hits.append(ip.id)
        if not hits:
            return {"status": "Unknown"}
        self._remove(hits)
        return {"status": "Accepted"}

    # -- K08 GetCompositeSchedule -------------------------------------------------------

    async def on_get_composite_schedule(self, req: Payload) -> Payload:
        evse_id = int(req["evseId"])
        if evse_id != 0 and evse_id not in self._tx.evses:
            info = {"reasonCode": "UnknownEvse", "additionalInfo": f"EVSE {evse_id}"}
            return {"status": "Rejected", "statusInfo": info}
        units = self._list("RateUnit", ["A", "W"])
        unit = req.get("chargingRateUnit") or ("W" if "W" in units else units[0])
        if unit not in units:  # K08: a unit the station does not support
            info = {"reasonCode": "UnsupportedRateUnit", "additionalInfo": unit}
            return {"status": "Rejected", "statusInfo": info}
        start = self._clock.wall().replace(microsecond=0)
        duration = int(req["duration"])
        periods = composite_schedule(
            self.installed(), evse_id, start, duration, unit, self._context(evse_id)
        ) or [SchedulePeriod(startPeriod=0)]
        schedule = {
            "evseId": evse_id,
            "duration": duration,
            "scheduleStart": iso(start),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [dict(p) for p in periods],
        }
        return {"status": "Accepted", "schedule": schedule}

    # -- Q04 UpdateDynamicSchedule / PullDynamicScheduleUpdate --------------------------

    def _dynamic_update(self, profile_id: int, update: Mapping[str, Any]) -> None:
        ip = self.profiles[profile_id]
        now: datetime = self._clock.wall()
        new = apply_update(ip.profile, update, now, iso(now))
        self._store(replace(ip, profile=new))

    async def on_update_dynamic_schedule(self, req: Payload) -> Payload:
        profile_id = int(req["chargingProfileId"])
        ip = self.profiles.get(profile_id)
        if ip is None:
            info = {"reasonCode": "NotFound", "additionalInfo": f"no profile {profile_id}"}
            return {"status": "Rejected", "statusInfo": info}
        if ip.profile["chargingProfileKind"] != "Dynamic":
            info = {"reasonCode": "InvalidProfile", "additionalInfo": "not a Dynamic profile"}
            return {"status": "Rejected", "statusInfo": info}
        self._dynamic_update(profile_id, req["scheduleUpdate"])
        return {"status": "Accepted"}

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._pull_loop())
            tg.create_task(self.needs.run())  # NotifyEVChargingNeeds (ev_charging_needs.py)

    async def _pull_loop(self) -> None:
        """Q04: send PullDynamicScheduleUpdate dynUpdateInterval after a Dynamic profile's
        last update; a failed pull waits for the next interval (the profile stays)."""
        while True:
            self._changed.clear()
            intervals = {
                i: n for i, ip in self.profiles.items() if (n := pull_interval(ip.profile))
            }
            nxt = next_pull(intervals, self._last_update, self._clock.monotonic())
            if nxt is None:
                await self._changed.wait()
                continue
            profile_id, due = nxt
            delay = due - self._clock.monotonic()
            if delay > 0:
                try:
                    await wait_for(self._clock, self._changed.wait(), delay)
                    continue  # profiles changed: compute the next due time again
                except TimeoutError:
                    pass
            await self._pull(profile_id)

    async def _pull(self, profile_id: int) -> None:
        self._last_update[profile_id] = self._clock.monotonic()
        try:
            response = await self._call(
                "PullDynamicScheduleUpdate", {"chargingProfileId": profile_id}
            )
        except (ConnectionLost, CallTimeout, OcppCallError) as exc:
            log.info("PullDynamicScheduleUpdate %s failed: %s", profile_id, exc)
            return
        accepted = response.get("status") == "Accepted" and "scheduleUpdate" in response
        if accepted and profile_id in self.profiles:
            self._dynamic_update(profile_id, response["scheduleUpdate"])


def _matches(ip: InstalledProfile, req: Payload) -> bool:
    """K09: evseId (0: the station's own) and every criterion given must match."""
    if "evseId" in req and ip.evse_id != req["evseId"]:
        return False
    crit = req.get("chargingProfile", {})
    if crit.get("chargingProfilePurpose", ip.purpose) != ip.purpose:
        return False
    if crit.get("stackLevel", ip.stack_level) != ip.stack_level:
        return False
    if "chargingProfileId" in crit and ip.id not in crit["chargingProfileId"]:
        return False
    return not ("chargingLimitSource" in crit and ip.source not in crit["chargingLimitSource"])
