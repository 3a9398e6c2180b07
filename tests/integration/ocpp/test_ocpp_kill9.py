"""kill -9 of the station process at 24 random points: nothing lost, seqNo gapless (E04).

Real subprocesses, real SQLite on disk, real WebSockets; the CSMS comes and goes too.
A message may arrive twice across a kill (sent, then killed before the ack was
committed) but then with the same message id (OCPP-J 4.1.4 allows this), so the CSMS
can tell; no seqNo may ever be missing.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
from pathlib import Path

from ocpp_support import PASSWORD

from evse.sim.csms import ScriptedCsms

PROC = Path(__file__).parent / "ocpp_station_proc.py"
KILLS = 24


def test_e04_kill9_at_random_points_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    db = tmp_path / "evse.db"

    async def spawn(port: int, *extra: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            str(PROC),
            "--port",
            str(port),
            "--db",
            str(db),
            *extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )

    running: list[int] = []

    async def scenario() -> ScriptedCsms:
        csms = ScriptedCsms(passwords={"CS001": PASSWORD})
        port = await csms.start()
        up = True
        for _ in range(KILLS):
            if rng.random() < 0.3:  # the CSMS comes and goes as well
                if up:
                    await csms.stop()
                else:
                    await csms.start(port=port)
                up = not up
            proc = await spawn(port)
            if rng.random() < 0.25:
                await asyncio.sleep(rng.uniform(0.0, 0.6))  # during startup / recovery
            else:
                # while running: the transaction was resumed (or started) and events flow
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 30)
                assert line.strip() == b"READY"
                running.append(proc.pid)
                await asyncio.sleep(rng.uniform(0.0, 0.5))
            proc.send_signal(signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
        if not up:
            await csms.start(port=port)
        proc = await spawn(port, "--finish")
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0 and b"DONE" in out
        await csms.stop()
        return csms

    csms = asyncio.run(scenario())
    by_seq: dict[int, tuple[str, str]] = {}
    transactions = set()
    for _, direction, text in csms.frames:
        frame = json.loads(text)
        if direction != "in" or frame[0] != 2 or frame[2] != "TransactionEvent":
            continue
        payload = frame[3]
        transactions.add(payload["transactionInfo"]["transactionId"])
        seen = by_seq.setdefault(payload["seqNo"], (frame[1], json.dumps(payload)))
        # A repeat is the same message, resent with its id after a kill.
        assert seen == (frame[1], json.dumps(payload)), "seqNo reused by another message"
    assert len(transactions) == 1
    assert sorted(by_seq) == list(range(len(by_seq))), "a seqNo is missing"
    events = [json.loads(by_seq[s][1]) for s in sorted(by_seq)]
    assert events[0]["eventType"] == "Started"
    assert events[-1]["eventType"] == "Ended"
    assert len(events) > 100
    resumed = [e for e in events if e["triggerReason"] == "TxResumed"]
    # 2.1 continuity: every process that got going after the first resumed the transaction
    assert len(resumed) >= len(running) - 1 and len(running) >= KILLS // 2
    assert csms.errors_sent == []
    print(f"kill9: {len(events)} events, {len(resumed)} resumed, {len(csms.frames)} frames")
