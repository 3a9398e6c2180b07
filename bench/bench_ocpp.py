"""OCPP client numbers: RPC core and persisted queue throughput on one core, and the RSS
of an evse process with the OCPP client connected.

    python -m bench ocpp

- rpc: CALL out + CALLRESULT in through the sans-IO session, schema-validated both ways
  (TransactionEvent with meter values), vs. the `ocpp` package's own validation of the
  same two payloads (its `messages.validate_payload`), measured in the same run.
- queue: TransactionEvent appended with its seqNo (SQLite WAL, synchronous=FULL, on
  disk), delivered and deleted; vs. the same with synchronous=NORMAL as the peer.
- rss: a child process runs OcppStation connected to the scripted CSMS and keeps a
  transaction running; VmRSS / VmHWM read from /proc.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evse.ocpp.clock import RealClock
from evse.ocpp.queue import MessageQueue, QueueSettings
from evse.ocpp.rpc import RpcSession
from evse.ocpp.schemas import OcppVersion, SchemaRegistry
from evse.store import Store

TX_EVENT: dict[str, Any] = {
    "eventType": "Updated",
    "timestamp": "2026-01-01T00:00:00.000Z",
    "triggerReason": "MeterValuePeriodic",
    "seqNo": 1,
    "transactionInfo": {
        "transactionId": "0f5e4a3c-1111-2222-3333-444455556666",
        "chargingState": "Charging",
    },
    "evse": {"id": 1, "connectorId": 1},
    "meterValue": [
        {
            "timestamp": "2026-01-01T00:00:00.000Z",
            "sampledValue": [
                {
                    "value": 1234.5,
                    "measurand": "Energy.Active.Import.Register",
                    "context": "Sample.Periodic",
                    "unitOfMeasure": {"unit": "Wh"},
                },
                {
                    "value": 11000.0,
                    "measurand": "Power.Active.Import",
                    "context": "Sample.Periodic",
                    "unitOfMeasure": {"unit": "W"},
                },
            ],
        }
    ],
}


def bench_rpc(n: int) -> tuple[float, float, float]:
    """Returns (msgs/s median of 5 runs, p99 per round trip in µs, package msgs/s)."""
    session = RpcSession(SchemaRegistry().for_version(OcppVersion.V21), 30.0)
    rates, lat = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            s = time.perf_counter()
            mid, _frame = session.start_call("TransactionEvent", TX_EVENT, 0.0)
            session.receive('[3,"' + mid + '",{}]', 0.0)
            lat.append(time.perf_counter() - s)
        rates.append(n / (time.perf_counter() - t0))
    from ocpp.messages import Call, CallResult, _validate_payload

    peer = []
    for _ in range(5):
        t0 = time.perf_counter()
        for i in range(n):
            call = Call(str(i), "TransactionEvent", TX_EVENT)
            _validate_payload(call, "2.1")
            result = CallResult(str(i), {})
            result.action = "TransactionEvent"
            _validate_payload(result, "2.1")
            json.loads(call.to_json())
        peer.append(n / (time.perf_counter() - t0))
    lat.sort()
    return statistics.median(rates), lat[int(len(lat) * 0.99)] * 1e6, statistics.median(peer)


class _Ack:
    async def call(
        self, action: str, payload: dict[str, Any], message_id: str | None = None
    ) -> dict[str, Any]:
        return {}


async def _queue_run(path: Path, n: int, synchronous: str) -> float:
    store = Store(path)
    store._db.execute(f"PRAGMA synchronous={synchronous}")
    store.tx_create("t1", 1, 1, {})
    delivered = 0
    all_done = asyncio.Event()

    async def done(action: str, payload: dict[str, Any], response: dict[str, Any]) -> None:
        nonlocal delivered
        delivered += 1
        if delivered == n:
            all_done.set()

    queue = MessageQueue(store, RealClock(), QueueSettings, done)
    t0 = time.perf_counter()
    sender = asyncio.create_task(queue.run(_Ack()))
    for _ in range(n):
        queue.push_transaction_event("t1", lambda seq: {**TX_EVENT, "seqNo": seq})
        await asyncio.sleep(0)
    await all_done.wait()
    rate = n / (time.perf_counter() - t0)
    sender.cancel()
    await asyncio.gather(sender, return_exceptions=True)
    store.close()
    return rate


def bench_queue(n: int) -> tuple[float, float]:
    full, normal = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(3):
            full.append(asyncio.run(_queue_run(Path(tmp) / f"f{i}.db", n, "FULL")))
            normal.append(asyncio.run(_queue_run(Path(tmp) / f"n{i}.db", n, "NORMAL")))
    return statistics.median(full), statistics.median(normal)


CHILD = r"""
import asyncio, sys
from pathlib import Path
from evse.ocpp.config import OcppConfig
from evse.ocpp.interfaces import EvPlugged
from evse.ocpp.station import OcppStation
from hal.devices.base import MeterReading

class Side:
    def meter(self, evse_id):
        return MeterReading((230.0,)*3, (16.0,)*3, (3680.0,)*3, 0.0, 1.0, 50.0, 1000.0, 0.0)
    async def allow_energy_transfer(self, e, a): pass
    async def unlock_connector(self, e, c): return "Unlocked"
    async def set_availability(self, e, o): pass
    async def reset(self, i): pass

async def main():
    cfg = OcppConfig(csms_url=f"ws://127.0.0.1:{sys.argv[1]}/ocpp", station_id="CS001",
                     basic_auth_password="0123456789abcdef",
                     variables={"SampledDataCtrlr.TxUpdatedInterval": 1,
                                "TxCtrlr.TxStartPoint": "EVConnected"})
    st = OcppStation(cfg, Path(sys.argv[2]), Side())
    task = asyncio.create_task(st.run())
    await st.connected.wait()
    st.notify(EvPlugged(1))
    print("CONNECTED", flush=True)
    await task

asyncio.run(main())
"""


def _proc_status(pid: int) -> str:
    return Path(f"/proc/{pid}/status").read_text()


async def _rss() -> tuple[int, int, int]:
    from evse.sim.csms import ScriptedCsms

    with tempfile.TemporaryDirectory() as tmp:
        async with ScriptedCsms() as csms:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CHILD,
                str(csms.port),
                str(Path(tmp) / "evse.db"),
                stdout=asyncio.subprocess.PIPE,
            )
            assert proc.stdout is not None
            await asyncio.wait_for(proc.stdout.readline(), 30)
            await asyncio.sleep(3.0)  # a few TransactionEvents through the queue
            status = _proc_status(proc.pid)
            fields = {
                line.split(":")[0]: line.split()[1]
                for line in status.splitlines()
                if line.startswith(("VmRSS", "VmHWM"))
            }
            proc.kill()
            await proc.wait()
            return int(fields["VmRSS"]), int(fields["VmHWM"]), len(csms.of("TransactionEvent"))


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    n = 5000
    rate, p99, peer = bench_rpc(n)
    print(
        f"rpc   : {rate:8.0f} CALL+CALLRESULT/s (validated both ways), p99 {p99:.0f} us; "
        f"ocpp package validation of the same: {peer:8.0f}/s (ratio {rate / peer:.2f})"
    )
    full, normal = bench_queue(2000)
    print(
        f"queue : {full:8.0f} TransactionEvents/s persisted+delivered (WAL, FULL); "
        f"NORMAL peer {normal:8.0f}/s (FULL/NORMAL {full / normal:.2f})"
    )
    rss, hwm, events = asyncio.run(_rss())
    print(
        f"rss   : evse with OCPP connected, transaction running: VmRSS {rss / 1024:.1f} MiB, "
        f"VmHWM {hwm / 1024:.1f} MiB ({events} TransactionEvents seen)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
