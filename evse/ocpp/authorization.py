"""Authorization (C01, C10-C15, D01-D02): Authorize, cache, local list, offline rules.

Order of checks for a presented idToken:
1. AuthCtrlr.Enabled = false: no authorization at all (C01 note).
2. Local authorization list, then the authorization cache: an Accepted, unexpired entry
   authorizes at once when offline and LocalAuthorizeOffline (C12.FR.02, C13), or online
   and LocalPreAuthorize (C13.FR.03); a non-Accepted entry is asked of the CSMS when
   online unless DisablePostAuthorize (C10.FR.03, C12.FR.05).
3. Online and not DisableRemoteAuthorization: AuthorizeRequest; the answer goes in the
   cache (C10.FR.01).
4. Offline and unknown: Accepted only with OfflineTxForUnknownIdEnabled (C15.FR.01).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from evse.ocpp.clock import Clock
from evse.ocpp.device_model import DeviceModel
from evse.ocpp.endpoint import CallTimeout, ConnectionLost, OcppCallError
from evse.store import Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]
CACHE_LIMIT = 1000


def token_key(id_token: Payload) -> str:
    return f"{id_token.get('type', '')}:{id_token.get('idToken', '')}"


class Authorization:
    def __init__(
        self,
        dm: DeviceModel,
        store: Store,
        clock: Clock,
        online: Callable[[], bool],
        call: Callable[[str, Payload], Awaitable[Payload]],
    ) -> None:
        self._dm = dm
        self._store = store
        self._clock = clock
        self._online = online
        self._call = call
        self._allowed: dict[str, list[str]] = {}  # Q01: AuthorizeResponse's, per idToken
        self._refresh_entries()

    def allowed_transfer(self, id_token: Payload) -> list[str] | None:
        """Q01: allowedEnergyTransfer of the token's latest AuthorizeResponse (None: it
        had none, or the token was decided without asking: charging only)."""
        return self._allowed.get(token_key(id_token))

    def _refresh_entries(self) -> None:
        slot = self._dm.find("LocalAuthListCtrlr", "Entries")
        if slot is not None:
            self._dm.set_internal(slot, str(self._store.local_list_len()))

    def _expired(self, info: Payload) -> bool:
        expiry = info.get("cacheExpiryDateTime")
        if not isinstance(expiry, str):
            return False
        try:
            when = datetime.fromisoformat(expiry.replace("Z", "+00:00"))
        except ValueError:
            return True
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # a CSMS that left out the offset: UTC
        return when <= self._clock.wall()

    def _local_entry(self, key: str) -> tuple[Payload, str] | None:
        if self._dm.get_bool("LocalAuthListCtrlr", "Enabled"):
            info = self._store.local_list_get(key)
            if info is not None:
                return info, "list"
        if self._dm.get_bool("AuthCacheCtrlr", "Enabled"):
            cached = self._store.cache_get(key)
            if cached is not None:
                info, last_used = cached
                lifetime = self._dm.get_int("AuthCacheCtrlr", "LifeTime")
                if self._clock.wall().timestamp() - last_used > lifetime or self._expired(info):
                    self._store.cache_delete(key)  # C10.FR.08: expired entries go
                    return None
                return info, "cache"
        return None

    async def authorize(self, id_token: Payload) -> Payload:
        """Returns an IdTokenInfoType for `id_token`."""
        if not self._dm.get_bool("AuthCtrlr", "Enabled"):
            return {"status": "Accepted"}
        key = token_key(id_token)
        self._allowed.pop(key, None)  # an older answer never carries over (Q02)
        online = self._online()
        local = self._local_entry(key)
        if local is not None:
            info, source = local
            accepted = info.get("status") == "Accepted" and not self._expired(info)
            if accepted and (
                (not online and self._dm.get_bool("AuthCtrlr", "LocalAuthorizeOffline"))
                or (online and self._dm.get_bool("AuthCtrlr", "LocalPreAuthorize"))
            ):
                if source == "cache":
                    self._store.cache_touch(key, self._clock.wall().timestamp())
                return info
            post = not self._dm.get_bool(
                "LocalAuthListCtrlr" if source == "list" else "AuthCacheCtrlr",
                "DisablePostAuthorize",
            )
            if not accepted and not (online and post):
                return info
        if online and not self._dm.get_bool("AuthCtrlr", "DisableRemoteAuthorization"):
            try:
                response = await self._call("Authorize", {"idToken": id_token})
            except (OcppCallError, CallTimeout, ConnectionLost) as exc:
                log.warning("Authorize failed (%s): deciding offline", exc)
            else:
                info = dict(response["idTokenInfo"])
                self.remember(id_token, info)
                if info.get("status") == "Accepted" and "allowedEnergyTransfer" in response:
                    self._allowed[key] = list(response["allowedEnergyTransfer"])
                return info
        if (
            local is not None
            and local[0].get("status") == "Accepted"
            and self._dm.get_bool("AuthCtrlr", "LocalAuthorizeOffline")
        ):
            return local[0]
        if self._dm.get_bool("AuthCtrlr", "OfflineTxForUnknownIdEnabled") and local is None:
            return {"status": "Accepted"}  # C15: unknown offline authorization
        return {"status": "Unknown"} if local is None else local[0]

    def remember(self, id_token: Payload, info: Payload) -> None:
        """Cache an IdTokenInfo from AuthorizeResponse / TransactionEventResponse (C10)."""
        if not self._dm.get_bool("AuthCacheCtrlr", "Enabled") or id_token.get("type") in (
            "NoAuthorization",
            "Central",
        ):
            return
        self._store.cache_put(
            token_key(id_token), info, self._clock.wall().timestamp(), CACHE_LIMIT
        )

    # -- CSMS-initiated ---------------------------------------------------------------

    async def on_send_local_list(self, req: Payload) -> Payload:
        """D01/D02: Full replaces the list, Differential updates / deletes entries."""
        if not self._dm.get_bool("LocalAuthListCtrlr", "Enabled"):
            return {"status": "Failed"}
        version = int(req["versionNumber"])
        current = int(self._store.get_meta("local_list_version") or 0)
        full = req["updateType"] == "Full"
        if not full and version <= current:
            return {"status": "VersionMismatch"}  # D02.FR.?: older differential
        upserts: dict[str, Payload] = {}
        deletes: list[str] = []
        for entry in req.get("localAuthorizationList", []):
            key = token_key(entry["idToken"])
            if "idTokenInfo" in entry:
                upserts[key] = entry["idTokenInfo"]
            elif not full:
                deletes.append(key)
        self._store.local_list_apply(version, full, upserts, deletes)
        self._refresh_entries()
        return {"status": "Accepted"}

    async def on_get_local_list_version(self, req: Payload) -> Payload:
        if not self._dm.get_bool("LocalAuthListCtrlr", "Enabled"):
            return {"versionNumber": 0}
        return {"versionNumber": int(self._store.get_meta("local_list_version") or 0)}

    async def on_clear_cache(self, req: Payload) -> Payload:
        if not self._dm.get_bool("AuthCacheCtrlr", "Enabled"):
            return {"status": "Rejected"}  # C11.FR.04
        self._store.cache_clear()
        return {"status": "Accepted"}
