"""N simulated stations in one process (issue 16, `--stations N` / `--csms URL`): each
the real controller with hal on in-process simulated devices and our OCPP 2.1 client,
against the embedded scripted CSMS or an `evse csms` process by URL.

Waits are for conditions with generous limits; nothing here asserts a timing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evse.config import StationConfig, load_station
from evse.sim.csms import ScriptedCsms
from evse.sim.stations import DEFAULT_CONFIG, run_stations

N = 5
IDS = {f"SIM-{i:03d}" for i in range(1, N + 1)}
WAIT_S = 90.0  # five whole stations start in one process on a loaded machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _base() -> StationConfig:
    return load_station(DEFAULT_CONFIG)  # what `python -m evse.sim.stations` uses


def _meter_values(event: dict[str, Any]) -> bool:
    """A TransactionEvent Updated with sampled meter values (E02 / J02)."""
    return (
        event["eventType"] == "Updated"
        and event["triggerReason"] == "MeterValuePeriodic"
        and bool(event.get("meterValue"))
    )


def _by_station(csms: ScriptedCsms, action: str, pred: Callable[[Any], bool]) -> set[str]:
    return {r.station for r in csms.received if r.action == action and pred(r.payload)}


class Fleet:
    """run_stations in this loop with the embedded CSMS handed back to the test."""

    def __init__(self, run_dir: Path, kind: str = "full") -> None:
        self.run_dir = run_dir
        self.kind = kind
        self.stop = asyncio.Event()
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self.csms: ScriptedCsms | None = None
        self.task: asyncio.Task[int] | None = None

    async def start(self) -> ScriptedCsms:
        self.task = asyncio.create_task(
            run_stations(
                N, None, _base(), stop=self.stop, on_status=self._status,
                run_dir=self.run_dir, kind=self.kind, heartbeat_s=1, meter_interval_s=1,
                on_csms=lambda c: setattr(self, "csms", c),
            )
        )
        async with asyncio.timeout(WAIT_S):
            while self.csms is None:
                assert not self.task.done(), self.task.result()
                await asyncio.sleep(0.05)
        return self.csms

    def _status(self, line: str) -> None:
        self.lines.append(line)
        self.changed.set()

    async def said(self, text: str) -> None:
        async with asyncio.timeout(WAIT_S):
            while not any(text in line for line in self.lines):
                self.changed.clear()
                await self.changed.wait()

    async def finish(self) -> int:
        assert self.task is not None
        self.stop.set()
        return await asyncio.wait_for(self.task, WAIT_S)


@pytest.mark.parametrize("kind", ["full", "light"])
def test_b01_g02_j02_five_stations_boot_with_distinct_ids_and_send_meter_values(
    short_tmp: Path, kind: str
) -> None:
    async def scenario() -> None:
        fleet = Fleet(short_tmp / "run", kind)
        csms = await fleet.start()
        try:
            # B01: every station boots, each under its own id; G02 heartbeats; E02/J02:
            # a transaction per station with meter values flowing.
            await csms.wait_until(lambda: _by_station(csms, "BootNotification", bool) == IDS,
                                  WAIT_S)
            await csms.wait_until(
                lambda: _by_station(csms, "TransactionEvent", _meter_values) == IDS, WAIT_S
            )
            await csms.wait_until(lambda: _by_station(csms, "Heartbeat", lambda _: True) == IDS,
                                  WAIT_S)
            assert _by_station(csms, "StatusNotification", lambda p: True) == IDS
            assert csms.errors_sent == []  # every frame passed the CSMS's schema check
            started = {
                r.station
                for r in csms.received
                if r.action == "TransactionEvent" and r.payload["eventType"] == "Started"
            }
            assert started == IDS
        finally:
            rc = await fleet.finish()
        assert rc == 0, fleet.lines
        # each station keeps its own SQLite under the run directory
        for sid in IDS:
            assert (short_tmp / "run" / sid / "evse" / "evse.sqlite").is_file()
        assert fleet.lines[-1].endswith("0 failed"), fleet.lines[-3:]

    asyncio.run(scenario())


def test_ocpp_j_5_4_a_station_whose_connection_drops_reconnects(short_tmp: Path) -> None:
    async def scenario() -> None:
        fleet = Fleet(short_tmp / "run")
        csms = await fleet.start()
        try:
            await csms.wait_until(lambda: set(csms.stations) == IDS, WAIT_S)
            before = csms.connections
            seen = len(csms.received)
            await csms.drop("SIM-003")
            # the station connects again (OCPP-J 5.4 back-off) and goes on talking:
            # heartbeats and meter values arrive from it over the new connection
            await csms.wait_until(
                lambda: csms.connections > before
                and "SIM-003" in csms.stations
                and any(
                    r.station == "SIM-003" and r.action == "TransactionEvent"
                    for r in csms.received[seen:]
                ),
                WAIT_S,
            )
            assert set(csms.stations) == IDS
        finally:
            rc = await fleet.finish()
        assert rc == 0, fleet.lines

    asyncio.run(scenario())


def test_a_station_that_fails_is_reported_and_the_others_run_on(short_tmp: Path) -> None:
    """SIM-002's hal cannot take its socket path (a folder sits there): that station
    fails, the status says which and why, the others boot, and the result is non-zero."""

    async def scenario() -> None:
        (short_tmp / "run" / "SIM-002" / "hal.sock").mkdir(parents=True)
        fleet = Fleet(short_tmp / "run")
        csms = await fleet.start()
        try:
            others = IDS - {"SIM-002"}
            await csms.wait_until(
                lambda: _by_station(csms, "TransactionEvent", _meter_values) == others, WAIT_S
            )
            await fleet.said("station SIM-002 failed: hal failed")
        finally:
            rc = await fleet.finish()
        assert rc == 1
        failed = [line for line in fleet.lines if line.startswith("FAILED ")]
        assert len(failed) == 1 and failed[0].startswith("FAILED SIM-002: hal"), failed
        assert "1 failed" in fleet.lines[-2]

    asyncio.run(scenario())


def test_five_stations_against_an_evse_csms_process_by_url(short_tmp: Path) -> None:
    """`python -m evse.sim.stations --csms URL` against `evse csms` as real processes."""
    port = free_port()

    async def scenario() -> None:
        csms = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "evse.cli", "csms", "--port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=(short_tmp / "csms.log").open("wb"),
        )
        assert csms.stdout is not None
        fleet: asyncio.subprocess.Process | None = None
        try:
            first = json.loads(await asyncio.wait_for(csms.stdout.readline(), WAIT_S))
            assert first["listening"] == f"127.0.0.1:{port}"
            fleet = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "evse.sim.stations", "--n", str(N),
                "--csms", f"ws://127.0.0.1:{port}/ocpp", "--run-dir", str(short_tmp / "run"),
                "--meter-interval-s", "1",
                stdout=(short_tmp / "fleet.out").open("wb"),
                stderr=(short_tmp / "fleet.log").open("wb"), env=dict(os.environ),
            )
            booted: set[str] = set()
            metered: set[str] = set()
            async with asyncio.timeout(WAIT_S):
                while booted != IDS or metered != IDS:
                    line = json.loads(await csms.stdout.readline())
                    frame = line["frame"]
                    if line["dir"] != "in" or not isinstance(frame, list) or frame[0] != 2:
                        continue
                    if frame[2] == "BootNotification":
                        booted.add(line["station"])
                    elif frame[2] == "TransactionEvent" and _meter_values(frame[3]):
                        metered.add(line["station"])
            fleet.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(fleet.wait(), WAIT_S) == 0
            out = (short_tmp / "fleet.out").read_text().splitlines()
            assert f"{N} booted" in out[-1] and out[-1].endswith(" 0 failed"), out[-3:]
        finally:
            for proc in (fleet, csms):
                if proc is not None and proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    asyncio.run(scenario())
