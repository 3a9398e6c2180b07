"""The orchestrator behind `evse sim --scenario`: hal and `evse run` as child processes,
the embedded CSMS and MQTT broker here, an EMS client, the car; the scenario's timeline
played against them; the trace, the checks and the plot at the end."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from evse.api.broker import embedded_broker
from evse.sim.scenario import station_config
from evse.sim.scenario.checks import Verdict, judge
from evse.sim.scenario.model import Scenario, ScenarioError, Step
from evse.sim.scenario.parties import EmbeddedCsms, Ems, fill
from evse.sim.scenario.processes import Child, HalObserver, wait_for_socket
from evse.sim.scenario.status import StatusWords, flow
from evse.sim.scenario.trace import Timeline, Trace

RUNS_DIR = Path(__file__).resolve().parents[3] / "var" / "sim" / "runs"


@dataclass
class Options:
    speed: float = 1.0
    run_dir: Path | None = None
    csms_url: str | None = None  # an external CSMS instead of the embedded one
    plot: bool = True
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
    def __init__(self, sc: Scenario, opts: Options) -> None:
        check_speed(sc, opts.speed)
        self.sc = sc
        self.opts = opts
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.dir = opts.run_dir or RUNS_DIR / f"{sc.name}-{stamp}"
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
        self.words = StatusWords(opts.out, lambda: self.observer.last.get(1))
        self.trace.listeners.append(self.words.on_record)
        self.stop = asyncio.Event()

    # ---- the run ----------------------------------------------------------------------

    async def run(self) -> Result:
        out = self.opts.out
        out(f"scenario {self.sc.name}: {self.sc.description}")
        out(f"run directory {self.dir} (speed {self.opts.speed:g}x)")
        if self.csms is not None:
            await self.csms.start()
        url = self.csms.url if self.csms is not None else self.opts.csms_url
        ends = station_config.Endpoints(self.dir, url if self.sc.csms.embedded or
                                        self.opts.csms_url else None, self.mqtt_port,
                                        self.opts.speed)
        station_config.write(station_config.build(self.sc, ends), self.config_path)
        try:
            async with embedded_broker("127.0.0.1", self.mqtt_port):
                await self._play()
        finally:
            if self.csms is not None:
                await self.csms.close()
        verdicts = [judge(c, self.trace.records) for c in self.sc.checks]
        for v in verdicts:
            self.trace.add("check", ok=v.ok, line=v.line())
        self.trace.close()
        plot = self._plot() if self.opts.plot else None
        out("")
        for v in verdicts:
            out(v.line())
        for e in self.errors:
            out(f"FAIL {e}")
        passed = sum(v.ok for v in verdicts)
        out(f"{passed} of {len(verdicts)} checks passed; trace {self.trace.path}"
            + (f", plot {plot}" if plot else ""))
        return Result(self.dir, self.trace.path, plot, verdicts, self.errors)

    async def _play(self) -> None:
        self.timeline.start = time.monotonic()  # hal's scripted t = 0 is ours
        await self.hal.start()
        try:
            await wait_for_socket(self.dir / "hal.sock", self.hal)
            await self.controller.start()
            # The parts run until the timeline ends; then they are cancelled and awaited.
            parts = [asyncio.create_task(self.observer.run(self.stop)),
                     asyncio.create_task(self.ems.run(self.stop)),
                     asyncio.create_task(self._summaries())]
            if self.csms is not None:
                parts.append(asyncio.create_task(self.csms.pump(self.stop)))
            try:
                await self._timeline()
            finally:
                for task in parts:
                    task.cancel()
                await asyncio.gather(*parts, return_exceptions=True)
        finally:
            await self.controller.stop()
            await self.hal.stop()
            if self.csms is not None:
                self.csms.drain()  # what came while the parts stopped

    async def _timeline(self) -> None:
        try:
            for step in expand(self.sc.steps, self.sc.duration_s):
                await asyncio.sleep(self.timeline.real_delay(step.at_s))
                self.trace.add("step", do=step.do, say=step.say, params=step.params)
                try:
                    await self._do(step)
                except (OSError, TimeoutError, LookupError, RuntimeError) as exc:
                    self.errors.append(f"step at {step.at_s:g} s ({step.say}): {exc!r}")
                    self.trace.add("step", do=step.do, error=repr(exc))
            await asyncio.sleep(self.timeline.real_delay(self.sc.duration_s))
        finally:
            self.stop.set()

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
            await self.ems.command(1, prm["command"], fill(prm.get("payload", {}), speed))
        elif step.do == "process.kill":
            await (self.hal if prm["target"] == "hal" else self.controller).kill9()
        elif step.do == "process.start":
            child = self.hal if prm["target"] == "hal" else self.controller
            await child.start()
        # grid and car steps of hal's sim EV ride on hal's scripted timeline (config)

    async def _summaries(self) -> None:
        # every few scenario seconds, at most once a real second (--speed)
        every = max(self.opts.summary_every_s / self.opts.speed, 1.0)
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), every)
            csms = "none"
            if self.csms is not None:
                csms = "connected" if self.csms.csms.stations else (
                    "online, station not connected" if self.csms.online else "offline")
            m = self.observer.last.get(1)
            car = "unplugged" if m is None or m.cp_state in ("A", "") else flow(m.active_w)
            self.words.summary(self.timeline.now(), csms, car)

    def _plot(self) -> Path | None:
        try:
            from evse.sim.scenario.plot import plot_run
        except ImportError as exc:  # the `sim` extra is not installed
            self.opts.out(f"no plot: {exc} (pip install -e '.[sim]')")
            return None
        return plot_run(self.trace.records, self.dir / "plot.png", self.sc)


def expand(steps: tuple[Step, ...], duration_s: float) -> list[Step]:
    """The timeline with a `csms.online` step where each `csms.offline` ends (within
    the run)."""
    out = list(steps)
    for s in steps:
        if s.do == "csms.offline" and s.at_s + float(s.params["duration_s"]) < duration_s:
            out.append(Step(s.at_s + float(s.params["duration_s"]), "csms.online",
                            "CSMS back online", {}))
    return sorted(out, key=lambda s: s.at_s)


def run_scenario(sc: Scenario, opts: Options) -> Result:
    return asyncio.run(Run(sc, opts).run())


def report_exit(result: Result) -> int:
    if not result.ok:
        print(f"evse sim: scenario failed; see {result.trace}", file=sys.stderr)
        return 1
    return 0

