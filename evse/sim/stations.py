"""N simulated stations in one process, each a full OCPP 2.1 client of ours with its own
id (`SIM-001` ...) and its own SQLite under a run directory, against an external CSMS or
the embedded scripted one (evse/sim/csms.py) started in process.

Each station (`kind="full"`, the default) is hal on in-process simulated devices plus the
real controller, linked by the hal contract (evse/sim/station_full.py); `kind="light"` is
the same OCPP client over a simulated meter (evse/sim/station_light.py). Full is the
default because it is the station a CSMS team means to test: smart charging and DER
controls reach hal and move the measured power, DER alarms come from hal's grid
functions. On the 2-core project machine one core held 200 full stations with every
Heartbeat and meter value at most 1 s late (bench/bench_stations.py), but the core is
saturated from about 100 on and hal's 20 ms sample loop then runs late in a third of
its ticks; light stations held 600 (800: a few meter values 1.2 s late). Every station boots
(BootNotification, StatusNotification), sends Heartbeats, presents an id token for the EV
plugged in and runs a transaction whose meter values (TransactionEvent Updated,
MeterValuePeriodic) flow every `meter_interval_s`.

A station that fails is reported through `on_status` as it happens and in the final line,
and makes the result non-zero; the others keep running.

    python -m evse.sim.stations --n 10 [--csms ws://host:port/ocpp] [--duration 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from evse.config import StationConfig
from evse.ocpp.clock import RealClock
from evse.sim.csms import ScriptedCsms, default_responses
from evse.sim.station_config import FleetSettings, check_fleet, station_config, station_ids
from evse.sim.station_full import FullStation
from evse.sim.station_light import LightStation
from evse.sim.station_logging import prefixed_logging, station_context
from evse.sim.station_state import SimStation, StationFailed, StationState, summary

KINDS = ("full", "light")
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "sim.toml"
_START_SPREAD_S = 0.02  # between station starts: N boots are not one burst of SQLite setup


async def run_stations(
    n: int,
    csms_url: str | None,
    base_config: StationConfig,
    *,
    stop: asyncio.Event,
    on_status: Callable[[str], None],
    run_dir: Path | None = None,
    kind: str = "full",
    id_prefix: str = "SIM",
    heartbeat_s: int = 10,
    meter_interval_s: int = 5,
    password: str | None = None,
    status_period_s: float = 1.0,
    on_csms: Callable[[ScriptedCsms], None] | None = None,
) -> int:
    """Run until `stop` is set; 0 when every station ran to the end, 1 when any failed.

    `csms_url` None: the embedded CSMS on a free loopback port (handed to `on_csms`, for
    tests and tools that want to watch it). Bad input raises ValueError before anything
    starts."""
    if kind not in KINDS:
        raise ValueError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix="evse-stations-"))
    csms: ScriptedCsms | None = None
    if csms_url is None:
        csms = _embedded_csms(heartbeat_s)
        port = await csms.start("127.0.0.1", 0)
        csms_url = f"ws://127.0.0.1:{port}/ocpp"
        if on_csms is not None:
            on_csms(csms)
    try:
        fleet = FleetSettings(
            csms_url, run_dir, id_prefix, heartbeat_s, meter_interval_s, password
        )
        check_fleet(n, fleet)
        on_status(f"{n} {kind} stations -> {csms_url} (run dir {run_dir})")
        embedded, unwatched = csms, csms is not None and on_csms is None

        def status(line: str) -> None:
            on_status(line)
            if unwatched and embedded is not None:
                # Nobody reads what the embedded CSMS keeps: a long run must not grow it.
                embedded.received.clear()
                embedded.frames.clear()

        with prefixed_logging():
            return await _run_fleet(n, base_config, fleet, kind, stop, status, status_period_s)
    finally:
        if csms is not None:
            await csms.stop()


def _embedded_csms(heartbeat_s: int) -> ScriptedCsms:
    responses = default_responses(RealClock())
    boot = responses["BootNotification"]
    assert callable(boot)

    def answer_boot(payload: dict[str, object]) -> dict[str, object]:
        out = dict(boot(payload))  # type: ignore[arg-type]
        out["interval"] = heartbeat_s  # B01: the CSMS sets the heartbeat interval
        return out

    responses["BootNotification"] = answer_boot
    return ScriptedCsms(responses)


class _Entry:
    """One station of the fleet: made inside its own task (a station that cannot even
    be built is a failed station, like one that fails later)."""

    def __init__(self, station_id: str, cfg: StationConfig, kind: str) -> None:
        self.station_id = station_id
        self.cfg = cfg
        self.kind = kind
        self.station: SimStation | None = None

    def state(self) -> StationState:
        return self.station.state() if self.station is not None else StationState()

    async def run(self, stop: asyncio.Event) -> None:
        make = FullStation if self.kind == "full" else LightStation
        try:
            self.station = make(self.station_id, self.cfg)
        except (OSError, sqlite3.Error, ValueError) as exc:
            raise StationFailed(self.station_id, f"could not start: {exc!r}") from exc
        await self.station.run(stop)


async def _run_fleet(
    n: int,
    base: StationConfig,
    fleet: FleetSettings,
    kind: str,
    stop: asyncio.Event,
    on_status: Callable[[str], None],
    status_period_s: float,
) -> int:
    entries = [
        _Entry(sid, station_config(base, fleet, sid), kind)
        for sid in station_ids(fleet.id_prefix, n)
    ]
    to_start = list(entries)
    failed: dict[str, str] = {}
    tasks: dict[asyncio.Task[None], _Entry] = {}
    pending: set[asyncio.Task[None]] = set()
    now = next_status = next_start = time.monotonic()
    frozen = False
    try:
        while (pending or to_start) and not stop.is_set():
            while to_start and now >= next_start:
                e = to_start.pop(0)
                task = asyncio.create_task(
                    e.run(stop), name=e.station_id, context=station_context(e.station_id)
                )
                tasks[task] = e
                pending.add(task)
                next_start += _START_SPREAD_S
            if not to_start and not frozen and now >= next_start:
                # Every station is built: the collector need not scan their long-lived
                # objects (schemas, device models) again. Unfrozen, a full collection
                # of hundreds of stations stalls the one event loop for seconds, and
                # every station's heartbeat and meter values with it.
                gc.freeze()
                frozen = True
            if now >= next_status:
                next_status = now + status_period_s
                on_status(_summary(entries, failed))
            wake = min(next_status, next_start) if to_start else next_status
            if pending:
                done, pending = await asyncio.wait(pending, timeout=max(0.0, wake - now))
            else:  # every station started so far has ended; more are still to start
                done = set()
                await asyncio.sleep(max(0.0, wake - now))
            for task in done:
                _record(task, tasks[task], failed, on_status)
            now = time.monotonic()
    finally:
        stop.set()  # ours ends the others too (a cancelled run, the last station gone)
        if pending:
            done, _ = await asyncio.wait(pending)
            for task in done:
                _record(task, tasks[task], failed, on_status)
        if frozen:
            gc.unfreeze()
    on_status(_summary(entries, failed))
    for sid, why in sorted(failed.items()):
        on_status(f"FAILED {sid}: {why}")
    return 1 if failed else 0


def _summary(entries: list[_Entry], failed: dict[str, str]) -> str:
    """The fleet's line; a failed station counts as failed only."""
    states = (e.state() for e in entries if e.station_id not in failed)
    hal = bool(entries) and entries[0].kind == "full"
    return summary(states, len(failed), len(entries), hal)


def _record(
    task: asyncio.Task[None],
    e: _Entry,
    failed: dict[str, str],
    on_status: Callable[[str], None],
) -> None:
    if task.cancelled():
        failed[e.station_id] = "cancelled"
    elif isinstance(task.exception(), StationFailed):
        exc = task.exception()
        assert isinstance(exc, StationFailed)
        failed[e.station_id] = exc.reason
    elif task.exception() is not None:
        failed[e.station_id] = f"{task.exception()!r}"
    else:
        return
    on_status(f"station {e.station_id} failed: {failed[e.station_id]}")


# ---- `python -m evse.sim.stations` ---------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, required=True, help="how many stations")
    p.add_argument("--csms", default=None, help="CSMS URL (default: the embedded CSMS)")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="base station config")
    p.add_argument("--kind", choices=KINDS, default="full", help="what each station runs")
    p.add_argument("--run-dir", type=Path, default=None, help="folder for the stations' state")
    p.add_argument("--id-prefix", default="SIM", help="station ids are PREFIX-001 ...")
    p.add_argument("--heartbeat-s", type=int, default=10, help="heartbeat interval")
    p.add_argument("--meter-interval-s", type=int, default=5, help="meter value interval")
    p.add_argument("--password", default=None, help="basic-auth password (16-40 chars)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many s")


async def _main(args: argparse.Namespace, cfg: StationConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    return await run_stations(
        args.n,
        args.csms,
        cfg,
        stop=stop,
        on_status=lambda line: print(line, flush=True),
        run_dir=args.run_dir,
        kind=args.kind,
        id_prefix=args.id_prefix,
        heartbeat_s=args.heartbeat_s,
        meter_interval_s=args.meter_interval_s,
        password=args.password,
    )


def main(argv: list[str] | None = None) -> int:
    from evse.commands.common import EXIT_CONFIG, load_or_exit

    p = argparse.ArgumentParser(prog="python -m evse.sim.stations", description=__doc__)
    add_arguments(p)
    args = p.parse_args(argv)
    cfg = load_or_exit(args.config, prefix="")
    if cfg is None:
        return EXIT_CONFIG
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_main(args, cfg))
    except ValueError as exc:
        print(f"evse stations: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
