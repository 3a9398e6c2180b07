"""AFRRSignal over the wire (OCPP 2.1 Q08): with no signal-watt curve in force the
station answers Rejected with reasonCode NoSignalWattCurve."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocpp_support import running_station


def test_q08_afrr_signal_without_signal_watt_curve_is_rejected(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            res = await r.csms.call(
                "AFRRSignal", {"timestamp": "2026-12-01T12:00:00.000Z", "signal": 40}
            )
            assert res == {"status": "Rejected", "statusInfo": {"reasonCode": "NoSignalWattCurve"}}
            assert r.csms.errors_sent == []

    asyncio.run(scenario())
