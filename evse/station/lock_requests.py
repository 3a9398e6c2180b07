"""Connector lock requests to hal (OCPP F05 UnlockConnector): one outstanding request per
EVSE, answered by hal's `ack` (the MCU confirmed) or `error` for `connector_lock`, or by
a time-out. A protocol state never waits on hardware for longer than that time-out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hal.protocol import Ack, ConnectorLock, Error, Message

LOCK_TIMEOUT_S = 5.0  # the MCU confirms within its command time-out; hal answers sooner


class LockRequests:
    def __init__(self) -> None:
        self._pending: dict[int, asyncio.Future[bool]] = {}

    async def request(
        self, evse_id: int, locked: bool, send: Callable[[Message], object], timeout_s: float
    ) -> bool:
        """True when hal reports the MCU confirmed; False on refusal, time-out, or when a
        request for this EVSE is already outstanding."""
        if evse_id in self._pending:
            return False
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[evse_id] = fut
        try:
            send(ConnectorLock(evse_id, locked))
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            return False
        finally:
            self._pending.pop(evse_id, None)

    def on_reply(self, msg: Message) -> bool:
        """Consume hal's answer to a lock request; False for any other message."""
        if isinstance(msg, Ack | Error) and msg.ref_type == ConnectorLock.TYPE:
            fut = self._pending.get(msg.evse_id) if msg.evse_id is not None else None
            if fut is not None and not fut.done():
                fut.set_result(isinstance(msg, Ack))
            return True
        return False
