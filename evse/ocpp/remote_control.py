"""Remote control (F01-F06, G03-G04, B11-B12, E14): what the CSMS asks the station to do."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from evse.ocpp.authorization import Authorization
from evse.ocpp.clock import Clock, iso
from evse.ocpp.device_model import DeviceModel
from evse.ocpp.endpoint import Reply
from evse.ocpp.interfaces import StationPort
from evse.ocpp.queue import MessageQueue
from evse.ocpp.transactions import Transactions
from evse.store import Store

log = logging.getLogger(__name__)

Payload = dict[str, Any]


class RemoteControl:
    def __init__(
        self,
        dm: DeviceModel,
        store: Store,
        clock: Clock,
        port: StationPort,
        queue: MessageQueue,
        auth: Authorization,
        tx: Transactions,
        statuses: dict[tuple[int, int], str],
        boot_accepted: Callable[[], bool],
        send_heartbeat: Callable[[], Awaitable[None]],
    ) -> None:
        self._dm = dm
        self._store = store
        self._clock = clock
        self._port = port
        self._queue = queue
        self._auth = auth
        self._tx = tx
        self.statuses = statuses
        self._boot_accepted = boot_accepted
        self._heartbeat = send_heartbeat
        self.reset_pending = False
        self.pending_inoperative: set[int] = set()

    # -- status -----------------------------------------------------------------------

    def status_notification(self, evse_id: int, connector_id: int) -> None:
        """G01: queue one StatusNotification with the connector's current status."""
        status = self.statuses.get((evse_id, connector_id), "Available")
        self._queue.push(
            "StatusNotification",
            {
                "timestamp": iso(self._clock.wall()),
                "connectorStatus": status,
                "evseId": evse_id,
                "connectorId": connector_id,
            },
        )

    def set_status(self, evse_id: int, connector_id: int, status: str) -> None:
        if not self._tx.evses[evse_id].operative and status == "Available":
            status = "Unavailable"  # G03: an Inoperative EVSE reports Unavailable
        if self.statuses.get((evse_id, connector_id)) == status:
            return
        self.statuses[(evse_id, connector_id)] = status
        self.status_notification(evse_id, connector_id)

    # -- F01 / F02 / F03 --------------------------------------------------------------

    async def on_request_start(self, req: Payload) -> Payload | Reply:
        evse_id = req.get("evseId", 1)
        st = self._tx.evses.get(evse_id)
        if st is None or not st.operative or st.id_token is not None:
            return {"status": "Rejected"}  # F01.FR.?: unknown, unavailable or in use
        id_token = req["idToken"]
        remote_start_id = int(req["remoteStartId"])
        answer: Payload = {"status": "Accepted"}
        if st.transaction_id is not None:
            answer["transactionId"] = st.transaction_id  # F02: tx already running

        async def then() -> None:
            if self._dm.get_bool("AuthCtrlr", "AuthorizeRemoteStart"):
                info = await self._auth.authorize(id_token)  # F01.FR.02
                if info.get("status") != "Accepted":
                    return
            await self._tx.authorized(evse_id, id_token, remote_start_id)

        return Reply(answer, then)

    async def on_request_stop(self, req: Payload) -> Payload | Reply:
        st = self._tx.by_transaction(req["transactionId"])
        if st is None:
            return {"status": "Rejected"}  # F03.FR.08: unknown transaction
        evse_id = st.evse_id

        async def then() -> None:
            await self._tx.deauthorize(evse_id, "RemoteStop", "Remote")

        return Reply({"status": "Accepted"}, then)

    async def on_get_transaction_status(self, req: Payload) -> Payload:
        """E14: are messages of (this) transaction still queued? One indexed EXISTS
        each: never work proportional to the queue on the event loop."""
        tx_id = req.get("transactionId")
        if tx_id is None:
            # Transaction-related: TransactionEvents (not security events or DER reports).
            return {"messagesInQueue": self._store.queue_has_transaction_messages()}
        ongoing = self._tx.by_transaction(tx_id) is not None
        queued = self._store.queue_has_transaction(tx_id)
        return {"ongoingIndicator": ongoing, "messagesInQueue": queued}

    # -- F05 unlock -------------------------------------------------------------------

    async def on_unlock_connector(self, req: Payload) -> Payload:
        evse_id, connector_id = int(req["evseId"]), int(req["connectorId"])
        st = self._tx.evses.get(evse_id)
        if st is None or (evse_id, connector_id) not in self.statuses:
            return {"status": "UnknownConnector"}
        if st.transaction_id is not None and st.id_token is not None:
            return {"status": "OngoingAuthorizedTransaction"}  # F05.FR.02
        return {"status": await self._port.unlock_connector(evse_id, connector_id)}

    # -- G03 / G04 availability -------------------------------------------------------

    async def on_change_availability(self, req: Payload) -> Payload | Reply:
        operative = req["operationalStatus"] == "Operative"
        evse = req.get("evse")
        evse_ids = list(self._tx.evses) if evse is None else [int(evse["id"])]
        if any(e not in self._tx.evses for e in evse_ids):
            return {"status": "Rejected"}
        busy = [e for e in evse_ids if self._tx.evses[e].transaction_id is not None]
        if busy and not operative:
            # G03.FR.05: with a transaction running the change waits until it ends.
            self.pending_inoperative.update(busy)
        now = [e for e in evse_ids if operative or e not in busy]

        async def then() -> None:
            for e in now:
                await self.apply_availability(e, operative)

        return Reply({"status": "Scheduled" if busy and not operative else "Accepted"}, then)

    async def apply_availability(self, evse_id: int, operative: bool) -> None:
        self.pending_inoperative.discard(evse_id)
        self._tx.evses[evse_id].operative = operative
        self._store.set_meta(
            "inoperative", ",".join(str(e) for e, s in self._tx.evses.items() if not s.operative)
        )  # availability persists across a reboot (G03)
        await self._port.set_availability(evse_id, operative)
        for (e, c), status in list(self.statuses.items()):
            if e != evse_id:
                continue
            if not operative:
                self.set_status(e, c, "Unavailable")
            elif status == "Unavailable":
                self.set_status(e, c, "Available")

    async def apply_pending(self) -> None:
        """Run availability changes and an OnIdle reset that waited for transactions."""
        for e in sorted(self.pending_inoperative):
            if self._tx.evses[e].transaction_id is None:
                await self.apply_availability(e, False)
        if self.reset_pending and not self._tx.active():
            self.reset_pending = False
            await self.do_reset(False)  # B12: OnIdle reset once idle

    # -- F06 trigger ------------------------------------------------------------------

    async def on_trigger_message(self, req: Payload) -> Payload | Reply:
        what = req["requestedMessage"]
        evse = req.get("evse") or {}
        evse_id = evse.get("id")
        if what == "BootNotification" and self._boot_accepted():
            return {"status": "Rejected"}  # F06.FR.17
        if what not in (
            "Heartbeat",
            "StatusNotification",
            "MeterValues",
            "TransactionEvent",
            "BootNotification",
        ):
            return {"status": "NotImplemented"}

        async def then() -> None:
            if what == "Heartbeat":
                await self._heartbeat()
            elif what == "StatusNotification":
                for e, c in sorted(self.statuses):
                    if evse_id is None or (e == evse_id and evse.get("connectorId", c) == c):
                        self.status_notification(e, c)
            elif what == "MeterValues":
                for item in self._tx.aligned_for_trigger(evse_id):
                    self._queue.push("MeterValues", item)
            elif what == "TransactionEvent":
                self._tx.trigger_updates(evse_id)

        return Reply({"status": "Accepted"}, then)

    # -- B11 / B12 reset --------------------------------------------------------------

    async def on_reset(self, req: Payload) -> Payload | Reply:
        if "evseId" in req:
            return {"status": "Rejected"}  # B12: per-EVSE reset not offered
        immediate = req["type"] == "Immediate"
        if not immediate and self._tx.active():
            self.reset_pending = True  # B12.FR.?: OnIdle waits for the transactions
            return {"status": "Scheduled"}

        async def then() -> None:
            await self.do_reset(immediate)

        return Reply({"status": "Accepted"}, then)

    async def do_reset(self, immediate: bool) -> None:
        for st in self._tx.active():
            self._tx.end_now(st.evse_id, "ResetCommand", "ImmediateReset")
        self._store.set_meta("boot_reason", "RemoteReset")
        await self._port.reset(immediate)
