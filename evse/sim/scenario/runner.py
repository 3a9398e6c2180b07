"""The orchestrator behind `evse sim --scenario`: hal and `evse run` as child processes,
the embedded CSMS and MQTT broker here, an EMS client, the car; the scenario's timeline
played against them; the trace, the checks and the plot at the end."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from evse.api.broker import embedded_broker
from evse.sim.netns import NetnsError, StationNet, station_netns, why_not_available
from evse.sim.scenario import station_config
from evse.sim.scenario.checks import Verdict, judge, not_judged
from evse.sim.scenario.model import Scenario, ScenarioError, Step
from evse.sim.scenario.parties import EmbeddedCsms, Ems, fill
from evse.sim.scenario.processes import Child, HalObserver, wait_for_socket
from evse.sim.scenario.status import StatusWords, flow
from evse.sim.scenario.trace import Timeline, Trace
from evse.sim.scenario.world import World

READY_LIMIT_S = 60.0  # hal, the controller and the CSMS link up (slow, shared machines)
RUNS_DIR = Path(__file__).resolve().parents[3] / "var" / "sim" / "runs"


@dataclass
class Options:
    speed: float = 1.0
    run_dir: Path | None = None
    csms_url: str | None = None  # an external CSMS instead of the embedded one
    plot: bool = True
    netns: bool = False  # the car in a network namespace, over veths and simulated modems
    summary_every_s: float = 5.0  # a summary status line this often (scenario seconds)
    out: Callable[[str], None] = field(default=lambda line: print(line, flush=True))


@dataclass
class Result:
    run_dir: Path
    trace: Path
    plot: Path | None
    verdicts: list[Verdict]
    errors: list[str]

    @property
    def ok(self) -> bool:
        return not self.errors and all(v.ok for v in self.verdicts)


def check_speed(sc: Scenario, speed: float) -> None:
    if speed <= 0:
        raise ScenarioError("--speed must be > 0")
    if speed > sc.max_speed:
        raise ScenarioError(
            f"scenario {sc.name!r} runs at most at --speed {sc.max_speed:g}: {sc.speed_note}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Run:
    def __init__(self, sc: Scenario, opts: Options, net: StationNet | None = None) -> None:
        check_speed(sc, opts.speed)
        self.sc = sc
        self.opts = opts
        self.net = net
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.dir = (opts.run_dir or RUNS_DIR / f"{sc.name}-{stamp}").resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.timeline = Timeline(opts.speed)
        self.trace = Trace(self.dir / "trace.jsonl", self.timeline)
        self.errors: list[str] = []
        self.csms: EmbeddedCsms | None = None
        if sc.csms.embedded and opts.csms_url is None:
            self.csms = EmbeddedCsms(self.trace, sc.csms.responses)
        self.mqtt_port = free_port()
        self.ems = Ems(self.trace, self.mqtt_port)
        self.config_path = self.dir / "station.toml"
        self.hal = Child("hal", ["hal", "--config", str(self.config_path)],
                         self.dir / "hal.log", self.trace)
        self.controller = Child("controller", ["run", "--config", str(self.config_path)],
                                self.dir / "evse.log", self.trace)
        self.observer = HalObserver(self.dir / "hal.sock", self.trace)
        self.sdp_port = free_port()
        self.world = World(self.dir / "world.sock", self.trace, sc.car, self.sdp_port,
                           self.dir / "plc", net.ev if net is not None else None)
        self.words = StatusWords(opts.out, lambda: self.observer.last.get(sc.car.evse_id))
        self.trace.listeners.append(self.words.on_record)
        self.stop = asyncio.Event()
        self._told = -1e9  # scenario time of the last summary line

    # ---- the run ----------------------------------------------------------------------

    async def run(self) -> Result:
        out = self.opts.out
        if self.net is not None:
            # SIGTERM: the run is cancelled and unwinds (children stopped, then the
            # namespaces removed by run_scenario) instead of dying with them in place.
            task = asyncio.current_task()
            assert task is not None
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        out(f"scenario {self.sc.name}: {self.sc.description}")
        out(f"run directory {self.dir} (speed {self.opts.speed:g}x)")
        if self.csms is not None:
            await self.csms.start()
        url = self.csms.url if self.csms is not None else self.opts.csms_url
        ends = station_config.Endpoints(
            self.dir, url, self.mqtt_port, self.opts.speed, self.timeline.start, self.sdp_port,
            self.net.evse.slac_if if self.net else None, self.net.evse.ip_if if self.net else None)
        if self.net is not None:
            out(f"network namespaces: the station on {self.net.evse.slac_if} (SLAC, raw socket)"
                f" and {self.net.evse.ip_if} (SDP, link-local); the car in {self.net.ev.netns}")
        station_config.write(station_config.build(self.sc, ends), self.config_path)
        out(f"CSMS {url or 'none'}; MQTT broker 127.0.0.1:{self.mqtt_port} (watch: "
            f"mosquitto_sub -p {self.mqtt_port} -v -t 'evse/#')")
        try:
            async with embedded_broker("127.0.0.1", self.mqtt_port):
                await self._play()
        finally:
            await self.world.close()
            if self.csms is not None:
                await self.csms.close()
        verdicts = [
            not_judged(c, "the CSMS is external (--csms): its frames are not seen here")
            if c.kind == "ocpp" and self.csms is None else judge(c, self.trace.records)
            for c in self.sc.checks
        ]
        for v in verdicts:
            self.trace.add("check", ok=v.ok, line=v.line())
        self.trace.close()
        plot = self._plot() if self.opts.plot else None
        out("")
        for v in verdicts:
            out(v.line())
        for e in self.errors:
            out(f"FAIL {e}")
        passed = sum(v.ok and v.judged for v in verdicts)
        skipped = sum(not v.judged for v in verdicts)
        out(f"{passed} of {len(verdicts) - skipped} checks passed"
            + (f" ({skipped} not judged)" if skipped else "")
            + f"; trace {self.trace.path}" + (f", plot {plot}" if plot else ""))
        return Result(self.dir, self.trace.path, plot, verdicts, self.errors)

    async def _play(self) -> None:
        await self.hal.start()
        # The parts run until the timeline ends; then they are cancelled and awaited.
        parts = [asyncio.create_task(self.observer.run(self.stop)),
                 asyncio.create_task(self.ems.run(self.stop))]
        if self.csms is not None:
            parts.append(asyncio.create_task(self.csms.pump(self.stop)))
        try:
            await wait_for_socket(self.dir / "hal.sock", self.hal)
            await self.controller.start()
            await self._ready()
            self.trace.start(time.monotonic())  # t = 0: the station is up
            self.trace.add("step", do="say", say="station ready", params={})
            parts.append(asyncio.create_task(self._summaries()))
            await self._timeline()
        finally:
            self.stop.set()
            for task in parts:
                task.cancel()
            await asyncio.gather(*parts, return_exceptions=True)
            await self.controller.stop()
            await self.hal.stop()
            if self.csms is not None:
                self.csms.drain()  # what came while the parts stopped

    async def _ready(self) -> None:
        """hal measures, the controller's API is online and, with the embedded CSMS, the
        station is connected to it: scenario time starts then (real seconds of process
        start-up would be hours at --speed)."""
        def up() -> bool:
            online = any(r["src"] == "mqtt" and r["topic"].endswith("/online")
                         and r["payload"] == "online" for r in self.trace.records)
            csms = self.csms is None or bool(self.csms.csms.stations)
            return online and csms and bool(self.observer.last)

        try:
            async with asyncio.timeout(READY_LIMIT_S):
                while not up():  # several parties, each with its own signal: poll
                    if not self.controller.alive or not self.hal.alive:
                        raise RuntimeError("a station process exited while starting")
                    await asyncio.sleep(0.05)
        except (TimeoutError, RuntimeError) as exc:
            self.errors.append(f"the station did not come up: {exc!r}; see {self.dir}")
            raise StationNotReady from exc

    async def _timeline(self) -> None:
        for step in expand(self.sc):
            await asyncio.sleep(self.timeline.real_delay(step.at_s))
            self.trace.add("step", do=step.do, say=step.say, params=step.params)
            try:
                await self._do(step)
            except (OSError, TimeoutError, LookupError, RuntimeError) as exc:
                self.errors.append(f"step at {step.at_s:g} s ({step.say}): {exc!r}")
                self.trace.add("step", do=step.do, say=f"FAILED: {exc!r}", error=repr(exc))
        await asyncio.sleep(self.timeline.real_delay(self.sc.duration_s))

    async def _do(self, step: Step) -> None:
        prm, speed = step.params, self.opts.speed
        if step.do == "csms.call":
            if self.csms is None:
                raise RuntimeError("no embedded CSMS in this run (--csms URL)")
            await self.csms.wait_connected(30.0)
            res = await self.csms.call(prm["action"], fill(prm.get("payload", {}), speed))
            want = prm.get("expect_status")
            if want is not None and res.get("status") != want:
                self.errors.append(f"{prm['action']} at {step.at_s:g} s answered "
                                   f"{res.get('status')} (expected {want}): {res}")
        elif step.do == "csms.disconnect" and self.csms is not None:
            await self.csms.disconnect()
        elif step.do == "csms.offline" and self.csms is not None:
            await self.csms.go_offline()  # back by the csms.online step `expand` added
        elif step.do == "csms.online" and self.csms is not None:
            await self.csms.start()
        elif step.do == "ems":
            await self.ems.command(self.sc.car.evse_id, prm["command"],
                                   fill(prm.get("payload", {}), speed))
        elif step.do == "grid":
            await self.world.grid(prm, speed)
        elif step.do == "car.plug":
            await self.world.plug()
        elif step.do == "car.want":
            self.world.want(float(prm["power_w"]))
        elif step.do == "car.unplug":
            await self.world.unplug(bool(prm.get("abrupt", False)))
        elif step.do == "process.kill":
            await (self.hal if prm["target"] == "hal" else self.controller).kill9()
        elif step.do == "process.start" and prm["target"] == "controller":
            await self.controller.start()
        elif step.do == "process.start":
            await self.hal.start()
            await wait_for_socket(self.dir / "hal.sock", self.hal)
            await self.world.resend()  # the new hal knows nothing of the world yet

    async def _summaries(self) -> None:
        # every few scenario seconds, at most once a real second (--speed)
        every = max(self.opts.summary_every_s / self.opts.speed, 1.0)
        while not self.stop.is_set():
            car = self.world.status()
            if car is not None:
                self.trace.add("car", **car)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), min(every, 1.0))
            if self.timeline.now() - self._told < self.opts.summary_every_s:
                continue
            self._told = self.timeline.now()
            csms = "none"
            if self.csms is not None:
                csms = "connected" if self.csms.csms.stations else (
                    "online, station not connected" if self.csms.online else "offline")
            self.words.summary(self.timeline.now(), csms, self._car_words(car))

    def _car_words(self, car: dict[str, Any] | None) -> str:
        if car is not None:
            soc = f" SOC {car['soc_pct']:.1f} %" if car["soc_pct"] is not None else ""
            return f"{car['stage']}{soc}"
        m = self.observer.last.get(self.sc.car.evse_id)
        return "unplugged" if m is None or m.cp_state in ("A", "") else flow(m.active_w)

    def _plot(self) -> Path | None:
        try:
            from evse.sim.scenario.plot import plot_run
        except ImportError as exc:  # the `sim` extra is not installed
            self.opts.out(f"no plot: {exc} (pip install -e '.[sim]')")
            return None
        return plot_run(self.trace.records, self.dir / "plot.png", self.sc)


class StationNotReady(Exception):
    """hal or the controller did not come up (the run's errors say why)."""


def expand(sc: Scenario) -> list[Step]:
    """The timeline with the car's plug-in and leaving from `[car]`, and a `csms.online`
    step where each `csms.offline` ends (within the run)."""
    out = list(sc.steps)
    if sc.car.plug_in_at_s is not None:
        out.append(Step(sc.car.plug_in_at_s, "car.plug", "the car plugs in", {}))
    if sc.car.unplug_at_s is not None:
        out.append(Step(sc.car.unplug_at_s, "car.unplug", "the car leaves", {}))
    for s in sc.steps:
        if s.do == "csms.offline" and s.at_s + float(s.params["duration_s"]) < sc.duration_s:
            out.append(Step(s.at_s + float(s.params["duration_s"]), "csms.online",
                            "CSMS back online", {}))
    return sorted(out, key=lambda s: s.at_s)


def run_scenario(sc: Scenario, opts: Options) -> Result:
    if not opts.netns:
        return _run(Run(sc, opts))
    if not sc.car.chain:
        raise ScenarioError(f"--netns: scenario {sc.name!r} has no car that speaks SLAC "
                            "([car] model = \"simcar\")")
    reason = why_not_available()
    if reason is not None:
        raise ScenarioError(f"--netns: {reason}")
    check_speed(sc, opts.speed)  # refused before any namespace is made
    try:
        # The station stays in our namespace; the car and the modems get their own. All
        # of it goes on every way out (the context's finally), after the run's children.
        with station_netns(modems=True, evse_netns=False) as net:
            return _run(Run(sc, opts, net))
    except NetnsError as exc:
        raise ScenarioError(f"--netns: {exc}") from None


def _run(run: Run) -> Result:
    try:
        return asyncio.run(run.run())
    except StationNotReady:
        return Result(run.dir, run.trace.path, None, [], run.errors)
    except asyncio.CancelledError:  # SIGTERM (--netns)
        run.opts.out("FAIL stopped (SIGTERM)")
        return Result(run.dir, run.trace.path, None, [], [*run.errors, "stopped (SIGTERM)"])


def report_exit(result: Result) -> int:
    if not result.ok:
        print(f"evse sim: scenario failed; see {result.trace}", file=sys.stderr)
        return 1
    return 0

