"""Q04 latency: UpdateDynamicSchedule sent by the CSMS -> hal's setpoint changed.

Real processes, as on a station: hal on simulated devices (sample 10 ms, reports every
10 ms), `evse run` with OCPP toward a scripted CSMS in this process, a hal observer client
here too. A transaction runs under a Dynamic CentralSetpoint TxProfile; each update sets
a new setpoint (random pause 0-300 ms between updates, so the updates fall anywhere in
evse's cycles). Per update: from just before the CSMS sends the CALL until the observer
reads a Measurement whose setpoint_w is the new value (the observer's own report period,
10 ms, is included). Environment: BENCH_DYN_N (updates, default 40).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from evse.sim.csms import ScriptedCsms
from hal import protocol as p
from tests.integration.test_evse_restart import PASSWORD, Station

WAIT_S = 60.0


class Observer:
    """A read-only hal client: the latest setpoint_w and when it was first seen."""

    def __init__(self) -> None:
        self.setpoint_w: float | None = None
        self.seen_at = 0.0
        self.changed = asyncio.Event()

    async def run(self, socket_path: Path) -> None:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
        writer.write(p.encode_message(p.Hello(p.PROTOCOL_VERSION, "bench", p.ROLE_OBSERVER)))
        decoder = p.FrameDecoder()
        try:
            while data := await reader.read(65536):
                now = time.monotonic()
                for frame in decoder.feed(data):
                    msg = p.decode_message(frame)
                    if isinstance(msg, p.Measurement) and msg.setpoint_w != self.setpoint_w:
                        self.setpoint_w, self.seen_at = msg.setpoint_w, now
                        self.changed.set()
        finally:
            writer.close()

    async def wait_setpoint(self, watts: float) -> float:
        async with asyncio.timeout(WAIT_S):
            while self.setpoint_w is None or abs(self.setpoint_w - watts) > 1.0:
                self.changed.clear()
                await self.changed.wait()
        return self.seen_at


def profile(tx_id: str) -> dict[str, Any]:
    period = {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": 3000.0,
              "limit": 11000.0}
    schedule = {"id": 1, "chargingRateUnit": "W", "startSchedule": "2026-01-01T00:00:00Z",
                "chargingSchedulePeriod": [period]}
    return {"id": 41, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Dynamic", "transactionId": tx_id,
            "chargingSchedule": [schedule]}


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def bench(workdir: Path) -> int:
    n = int(os.environ.get("BENCH_DYN_N", "40"))
    async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
        st = Station(workdir, csms.port, {})
        text = st.cfg.read_text().replace("period_ms = 20", "period_ms = 10")
        st.cfg.write_text(text.replace("report_period_ms = 50", "report_period_ms = 10"))
        st.hal.start()
        await st.start_evse()
        obs = Observer()
        watch = asyncio.create_task(obs.run(st.hal.socket))
        try:

            def started() -> list[dict[str, Any]]:
                return [e for e in csms.of("TransactionEvent") if e["eventType"] == "Started"]

            await csms.wait_until(lambda: bool(started()), WAIT_S)
            tx_id = started()[0]["transactionInfo"]["transactionId"]
            req = {"evseId": 1, "chargingProfile": profile(tx_id)}
            assert (await csms.call("SetChargingProfile", req))["status"] == "Accepted"
            await obs.wait_setpoint(3000.0)
            rng = random.Random(2026)
            latencies: list[float] = []
            for i in range(n):
                await asyncio.sleep(rng.random() * 0.3)
                watts = 2000.0 + 100.0 * (i % 40) + (0.0 if i % 2 else 3000.0)
                update = {"chargingProfileId": 41, "scheduleUpdate": {"setpoint": watts}}
                t0 = time.monotonic()
                assert (await csms.call("UpdateDynamicSchedule", update))["status"] == "Accepted"
                latencies.append(await obs.wait_setpoint(watts) - t0)
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
            await st.close()
    ms = [x * 1e3 for x in latencies]
    print(
        f"UpdateDynamicSchedule -> hal setpoint_w ({len(ms)} updates): median "
        f"{statistics.median(ms):.1f} ms  p99 {pct(ms, 0.99):.1f} ms  "
        f"min {min(ms):.1f} ms  max {max(ms):.1f} ms"
    )
    return 0


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="evse-"))  # short: AF_UNIX path limit
    try:
        return asyncio.run(bench(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
