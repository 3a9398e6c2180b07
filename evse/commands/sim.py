"""`evse sim`: the station on simulated hardware.

`evse sim --scenario NAME` (what `make sim` runs: `default`) plays a scenario from
config/scenarios/: hal and `evse run` as child processes, the embedded CSMS and MQTT
broker, an EMS client and the car, with a trace, a plot and the scenario's checks (a
failed check exits 1). `evse sim --list` names the scenarios. Without --scenario:
hal as a child process and the controller in this process on `--config`, one status line
per second."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from evse.api.broker import embedded_broker
from evse.commands.common import EXIT_CONFIG, load_or_exit
from evse.config import StationConfig
from evse.controller import Controller
from evse.sim.ev.beside import run_beside

HELP = "run the station on simulated hardware: a scenario, or hal + controller on a config"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "sim.toml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", help="a scenario name (config/scenarios/NAME.toml) or file")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--speed", type=float, default=1.0,
                   help="run K times faster than real time (scenarios that allow it)")
    p.add_argument("--run-dir", type=Path, default=None,
                   help="where the trace, logs and plot go (default var/sim/runs/NAME-TIME)")
    p.add_argument("--csms", metavar="URL", default=None,
                   help="connect to this CSMS instead of the embedded one (ws://.../ocpp)")
    p.add_argument("--stations", type=int, default=1,
                   help="N > 1: N simulated stations in one process (evse/sim/stations.py), "
                        "against --csms URL or an embedded CSMS; --duration stops them")
    p.add_argument("--netns", action="store_true",
                   help="run over a veth pair in network namespaces (root only)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument("--config", default=None, help="without --scenario: the station config")
    p.add_argument("--duration", type=float, default=None, help="stop after this many s")
    p.add_argument("--power-w", type=float, default=None, help="fixed power request in W")


async def _main(cfg: StationConfig, duration: float | None, power_w: float | None) -> int:
    hal = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evse.cli", "hal", "--config", str(cfg.path)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def _limits() -> None:
        # Stop on --duration, or when hal dies under us.
        hal_done = asyncio.create_task(hal.wait())
        timer = asyncio.create_task(asyncio.sleep(duration if duration is not None else 1e9))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({hal_done, timer, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for t in (hal_done, timer, stopped):
            t.cancel()
        await asyncio.gather(hal_done, timer, stopped, return_exceptions=True)
        stop.set()

    # [sim.car] without a CSMS: free vend has no OCPP Q01 to ask; the simulation lets the
    # car give power back (with [ocpp] the CSMS decides).
    v2x = cfg.sim_car is not None and cfg.sim_car.v2x_without_csms
    controller = Controller(cfg, power_w, may_discharge=lambda _: v2x)
    broker: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
    if cfg.mqtt is not None and cfg.mqtt.embedded_broker:
        broker = embedded_broker(cfg.mqtt.host, cfg.mqtt.port)
    try:
        async with broker:  # the local API's broker, unless the config names one
            await asyncio.gather(
                controller.run(stop, on_status=lambda line: print(line, flush=True)), _limits(),
                run_beside(cfg, stop, lambda line: print(line, flush=True)),  # [sim.car]
            )
    finally:
        if hal.returncode is None:
            hal.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(hal.wait(), 10.0)
            except TimeoutError:
                hal.kill()
                await hal.wait()
    if controller.failed is not None:
        print(f"evse sim: {controller.failed}", file=sys.stderr)
        return 1
    code = hal.returncode or 0
    if code != 0:
        print(f"evse sim: hal exited with {code}", file=sys.stderr)
        return 1
    return 0


async def _fleet(args: argparse.Namespace, cfg: StationConfig) -> int:
    from evse.sim.stations import run_stations

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    return await run_stations(args.stations, args.csms, cfg, stop=stop,
                              on_status=lambda line: print(line, flush=True),
                              run_dir=args.run_dir)


def _stations(args: argparse.Namespace) -> int:
    """`--stations N`: N simulated stations in this process (evse/sim/stations.py), each
    with its own id, against `--csms URL` or an embedded CSMS."""
    if args.scenario is not None or args.netns:
        print("evse sim: --stations runs a fleet, not a scenario (nor --netns): drop "
              + ("--scenario" if args.scenario is not None else "--netns"), file=sys.stderr)
        return 2
    cfg = load_or_exit(args.config or str(DEFAULT_CONFIG), prefix="")
    if cfg is None:
        return EXIT_CONFIG
    try:
        return asyncio.run(_fleet(args, cfg))
    except ValueError as exc:
        print(f"evse sim: {exc}", file=sys.stderr)
        return 2


def _scenario(args: argparse.Namespace) -> int:
    from evse.sim.scenario import model
    from evse.sim.scenario.runner import Options, report_exit, run_scenario

    if args.list:
        rows = model.listing()
        width = max((len(n) for n, _ in rows), default=0)
        for name, desc in rows:
            print(f"{name:<{width}}  {desc}")
        return 0
    if args.netns and os.geteuid() != 0:
        print("evse sim: --netns needs root (it makes a veth pair and namespaces)",
              file=sys.stderr)
        return 2
    if args.stations > 1:
        return _stations(args)
    try:
        sc = model.load(args.scenario or "default")
        if args.duration is not None:
            sc = model.truncated(sc, args.duration)
        opts = Options(speed=args.speed, run_dir=args.run_dir, csms_url=args.csms,
                       plot=not args.no_plot, netns=args.netns)
        result = run_scenario(sc, opts)
    except model.ScenarioError as exc:
        print(f"evse sim: {exc}", file=sys.stderr)
        return 2
    return report_exit(result)


def run(args: argparse.Namespace) -> int:
    if args.stations > 1:
        with contextlib.suppress(KeyboardInterrupt):
            return _stations(args)
        return 130
    if args.scenario is not None or args.list or args.config is None:
        with contextlib.suppress(KeyboardInterrupt):
            return _scenario(args)
        return 130
    cfg = load_or_exit(args.config, prefix="")
    if cfg is None:
        return EXIT_CONFIG
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_main(cfg, args.duration, args.power_w))
    return 0
