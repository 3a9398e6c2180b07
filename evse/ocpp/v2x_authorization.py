"""V2X authorization (OCPP 2.1 Q01) and charging only before it (Q02), per transaction.

The CSMS allows discharging by listing a bidirectional (BPT) mode in allowedEnergyTransfer:
in the AuthorizeResponse of the transaction's idToken, or later by
NotifyAllowedEnergyTransfer for the transaction. In the 2.1 schemas neither
RequestStartTransaction nor TransactionEventResponse carries the field; a remote start
with AuthorizeRemoteStart goes through Authorize and so gets it there. Absent, or a token
decided locally (cache, local list, offline): charging only. The modes bound to a
transaction are kept in SQLite, so a restarted evse resumes the transaction with them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from evse.ocpp.transactions import Transactions
from evse.store import Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]
_META_KEY = "v2x_allowed_energy_transfer"
# EnergyTransferModeEnumType values with bidirectional power transfer.
DISCHARGE_MODES = frozenset({"AC_BPT", "AC_BPT_DER", "DC_BPT", "DC_ACDP_BPT"})


def allows_discharge(modes: Iterable[str] | None) -> bool:
    """Q01: discharging only with a BPT mode allowed; nothing allowed: Q02 charging only."""
    return modes is not None and any(m in DISCHARGE_MODES for m in modes)


class V2xAuthorization:
    def __init__(
        self,
        store: Store,
        tx: Transactions,
        allowed_for_token: Callable[[Payload], list[str] | None],
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self._changed = changed
        self._store = store
        self._tx = tx
        self._allowed_for_token = allowed_for_token
        raw = store.get_meta(_META_KEY)
        self._by_tx: dict[str, list[str]] = json.loads(raw) if raw else {}

    def _save(self) -> None:
        running = {st.transaction_id for st in self._tx.evses.values()}
        # Only transactions still going: the record never grows with ended ones.
        self._by_tx = {t: m for t, m in self._by_tx.items() if t in running}
        self._store.set_meta(_META_KEY, json.dumps(self._by_tx, sort_keys=True))

    def allowed(self, evse_id: int) -> list[str] | None:
        """The modes allowed for the EVSE's transaction (None: none given)."""
        st = self._tx.evses.get(evse_id)
        if st is None or st.transaction_id is None:
            return None  # Q02: no transaction, no discharge
        modes = self._by_tx.get(st.transaction_id)
        if modes is None and st.id_token is not None:
            modes = self._allowed_for_token(st.id_token)
            if modes is not None:  # bound to this transaction from now on (kept in SQLite)
                self._by_tx[st.transaction_id] = modes
                self._save()
        return modes

    def may_discharge(self, evse_id: int) -> bool:
        """Q01/Q02: whether the energy manager may ask the EVSE to discharge."""
        return allows_discharge(self.allowed(evse_id))

    async def on_notify_allowed_energy_transfer(self, req: Payload) -> Payload:
        """Q01: the CSMS changes what the transaction may do (e.g. after the EV's needs)."""
        tx_id = str(req["transactionId"])
        if self._tx.by_transaction(tx_id) is None:
            info = {"reasonCode": "TxNotFound", "additionalInfo": tx_id}
            return {"status": "Rejected", "statusInfo": info}
        self._by_tx[tx_id] = list(req["allowedEnergyTransfer"])
        self._save()
        log.info("transaction %s: allowed energy transfer %s", tx_id, self._by_tx[tx_id])
        self._changed()
        return {"status": "Accepted"}
