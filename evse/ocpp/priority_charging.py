"""Priority charging (OCPP 2.1 K21 remote / K22 local), per transaction.

A charging profile with purpose PriorityCharging overrules the transaction's TxProfile or
TxDefaultProfile while priority charging is on for the transaction: the composite
schedule (evse/energy/composite.py) then takes it in their place; the station maximum
and external constraints still cap it. It only charges (K01.FR.71: ChargingOnly) and has
no duration (K01.FR.70: it lasts until the transaction ends); both are checked in
profile_validation.py.

- K21: the CSMS sends UsePriorityChargingRequest {transactionId, activate}. Unknown
  transaction: Rejected (TxNotFound). activate with no PriorityCharging profile for the
  transaction's EVSE (or EVSE 0): NoProfile. Else Accepted, and the composite schedule
  changes at once (`changed`).
- K22: priority requested locally (the EV or the station's user interface): the station
  switches it on (only with a PriorityCharging profile) and tells the CSMS with
  NotifyPriorityChargingRequest {transactionId, activated}; also when it stops.

Which transactions have it on is kept in SQLite (a restart keeps it); it ends with the
transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from evse.energy.composite import InstalledProfile
from evse.ocpp.transactions import Transactions
from evse.store import Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]
_META_KEY = "priority_charging"


class PriorityCharging:
    def __init__(
        self,
        store: Store,
        tx: Transactions,
        profiles: Callable[[], Iterable[InstalledProfile]],
        push: Callable[[str, Payload], None],
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._store, self._tx, self._profiles = store, tx, profiles
        self._push, self._changed = push, changed
        raw = store.get_meta(_META_KEY)
        self._on: set[str] = set(json.loads(raw)) if raw else set()

    def active(self, transaction_id: str | None) -> bool:
        """Whether the transaction charges with priority now."""
        if transaction_id is None or transaction_id not in self._on:
            return False
        if not self._running(transaction_id):  # ended: its priority with it
            self._on.discard(transaction_id)
            self._save()
            return False
        return True

    def _running(self, transaction_id: str) -> bool:
        return any(st.transaction_id == transaction_id for st in self._tx.evses.values())

    def _save(self) -> None:
        self._on = {t for t in self._on if self._running(t)}
        self._store.set_meta(_META_KEY, json.dumps(sorted(self._on)))

    def has_profile(self, evse_id: int) -> bool:
        """A PriorityCharging profile installed for the EVSE (or for all, EVSE 0)."""
        return any(
            ip.purpose == "PriorityCharging" and ip.evse_id in (0, evse_id) and not ip.invalid
            for ip in self._profiles()
        )

    def _set(self, transaction_id: str, on: bool) -> bool:
        """Switch it; True when that changed anything."""
        if on == (transaction_id in self._on):
            return False
        if on:
            self._on.add(transaction_id)
        else:
            self._on.discard(transaction_id)
        self._save()
        log.info("transaction %s: priority charging %s", transaction_id, "on" if on else "off")
        self._changed()
        return True

    async def on_use_priority_charging(self, req: Payload) -> Payload:
        """K21: the CSMS switches priority charging of a transaction on or off."""
        tx_id = str(req["transactionId"])
        st = self._tx.by_transaction(tx_id)
        if st is None:
            info = {"reasonCode": "TxNotFound", "additionalInfo": tx_id}
            return {"status": "Rejected", "statusInfo": info}
        if req["activate"] and not self.has_profile(st.evse_id):
            info = {"reasonCode": "NoProfile", "additionalInfo": "no PriorityCharging profile"}
            return {"status": "NoProfile", "statusInfo": info}
        self._set(tx_id, bool(req["activate"]))
        return {"status": "Accepted"}

    def request_local(self, evse_id: int, activate: bool) -> bool:
        """K22: priority asked for (or given up) at the station, e.g. by the EV. Returns
        whether priority charging is on afterwards. A change is told to the CSMS."""
        st = self._tx.evses.get(evse_id)
        tx_id = None if st is None else st.transaction_id
        if tx_id is None:
            return False  # only a transaction charges with priority
        if activate and not self.has_profile(evse_id):
            log.warning(
                "EVSE %d: priority charging asked for, no PriorityCharging profile", evse_id
            )
            return False
        if self._set(tx_id, activate):
            self._push("NotifyPriorityCharging", {"transactionId": tx_id, "activated": activate})
        return activate
