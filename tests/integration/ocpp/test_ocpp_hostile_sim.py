"""The hostile CSMS against the whole station: `evse sim` (hal as its child, simulated
EV plugged in with an id token) with an `[ocpp]` section, as real processes.

Passes when every CALL is answered with its own id, the connection stays (or comes back
after the frames that must end it), the process lives, and the TransactionEvents it
delivered have gapless seqNos from Started on. OCPP_FUZZ_SIM_FRAMES sets the length
(`make fuzz` runs a long one).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

from hostile_csms import HostileCsms

from tests.conftest import sim_config

FRAMES = int(os.environ.get("OCPP_FUZZ_SIM_FRAMES", "150"))
SEED = int(os.environ.get("OCPP_FUZZ_SEED", "20261202"))
LIMIT = 30.0


async def until(csms: HostileCsms, predicate: Any, what: str) -> None:
    try:
        async with asyncio.timeout(LIMIT):
            while not predicate():
                csms.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(csms.changed.wait(), 0.1)
    except TimeoutError:
        raise AssertionError(f"not within {LIMIT} s: {what}") from None


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_hostile_csms_against_evse_sim(short_tmp: Path) -> None:
    async def scenario() -> None:
        csms = HostileCsms(random.Random(SEED))
        port = await csms.start()
        cfg = sim_config(short_tmp)
        cfg.write_text(
            cfg.read_text()
            + f'id_token = "FUZZ0001"\nstate_dir = "{short_tmp}/evse"\n\n'
            + f'[ocpp]\ncsms_url = "ws://127.0.0.1:{port}/ocpp"\n'
            + 'station_id = "CS001"\nbasic_auth_password = "0123456789abcdef"\n'
            + "[ocpp.variables]\n"
            + '"SampledDataCtrlr.TxUpdatedInterval" = 1\n'
            + '"OCPPCommCtrlr.RetryBackOffWaitMinimum" = 1\n'
            + '"OCPPCommCtrlr.RetryBackOffRandomRange" = 0\n'
        )
        log = (short_tmp / "sim.log").open("wb")
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "evse.cli", "sim", "--config", str(cfg),
            stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )
        try:
            await until(
                csms,
                lambda: any(e["eventType"] == "Started" for e in csms.transaction_events),
                "a transaction started",
            )
            rss_start = rss_kib(sim.pid)
            for _ in range(FRAMES):
                await until(csms, lambda: csms.conn is not None, "connected")
                before = csms.connections
                kind = await csms.send_one()
                if kind in ("bad_utf8", "oversize"):
                    await until(csms, lambda b=before: csms.connections > b, "reconnect")
                else:
                    await until(csms, lambda: not csms.unanswered(), "every CALL answered")
                assert sim.returncode is None, "evse sim exited"
            events = len(csms.transaction_events)
            await until(csms, lambda: len(csms.transaction_events) > events, "meter values")
            rss_end = rss_kib(sim.pid)
        finally:
            if sim.returncode is None:
                sim.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sim.wait(), LIMIT)
            if sim.returncode is None:
                sim.kill()
                await sim.wait()
            await csms.stop()
            log.close()
        assert csms.unanswered() == []
        assert csms.malformed == []
        assert csms.connections == 1 + csms.closes_caused
        seen: dict[int, dict[str, Any]] = {}
        for e in csms.transaction_events:
            assert seen.setdefault(e["seqNo"], e) == e, "a seqNo reused"
        assert sorted(seen) == list(range(len(seen))), "a seqNo is missing"
        assert seen[0]["eventType"] == "Started"
        text = (short_tmp / "sim.log").read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]
        print(
            f"ocpp sim fuzz: {FRAMES} frames, {len(csms.expected)} CALLs answered, "
            f"{len(seen)} TransactionEvents, {csms.connections} connections, "
            f"evse RSS {rss_start / 1024:.1f} -> {rss_end / 1024:.1f} MiB"
        )

    asyncio.run(scenario())
