"""The `ocpp` package's 2.1 ChargePoint as a CSMS, answering what every station sends
after it connects (boot, status, security events, heartbeat); interop tests subclass it
with the handlers their use case needs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v21 import ChargePoint as CsmsV21
from ocpp.v21 import call_result as result21


class BootedCsms(CsmsV21):  # type: ignore[misc]
    @on("BootNotification")
    def boot(self, **kw: Any) -> Any:
        now = datetime.now(UTC).isoformat()
        return result21.BootNotification(current_time=now, interval=300, status="Accepted")

    @on("StatusNotification")
    def status(self, **kw: Any) -> Any:
        return result21.StatusNotification()

    @on("SecurityEventNotification")
    def security(self, **kw: Any) -> Any:
        return result21.SecurityEventNotification()

    @on("Heartbeat")
    def heartbeat(self, **kw: Any) -> Any:
        return result21.Heartbeat(current_time=datetime.now(UTC).isoformat())
