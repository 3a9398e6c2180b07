"""Grid protection through the hal daemon: trip lateness and droop response.

The hal daemon runs here (its own event loop, simulated devices, real contract socket,
sampled every 10 ms) while a second process floods the contract with power requests
and keep-alives. Randomized grid excursions are scripted on the simulated grid
(`SimGrid.set_override`) at random moments between samples:

- must-trip excursions (U>> 1.25 Un / 0.1 s, f> 51.5 Hz / 0.1 s, U<< 0.45 Un / 0.3 s,
  VDE-AR-N 4105): lateness = time the trip command reaches the MCU minus the clearing
  deadline (excursion start + clearing time); missed = no trip within 0.5 s after it;
- short excursions (at least two samples shorter than the clearing time): any trip is
  a false trip;
- one LFSM-O droop event (50.0 -> 50.7 Hz): time until the setpoint and the stage's
  power reach 90 % of the change, against the configured 2 s response time.

The must-trip runs are repeated under injected device faults (hal/sim HangFaults): EVSE
1's power stage answering only at its timeout (0.95 x devices.command_timeout_s per
call), and a second EVSE whose MCU and stage hang. Goal for each: p99 lateness within
one sample + 5 ms.

Writes bench/out/grid_droop_trip.png (matplotlib, the `bench` extra).
Environment: BENCH_GRID_N (trip excursions, default 1000), BENCH_GRID_SHORT (300),
BENCH_GRID_N_FAULT (trip excursions per fault scenario, default 300).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evse.config import load_station
from hal.daemon import HalDaemon
from hal.grid.engine import GridDecision, GridState
from hal.sdnotify import Notifier

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PERIOD_MS = 10
TIMEOUT_S = 0.5  # devices.command_timeout_s
NOMINAL_V = 230.0

STATION = """
[logging]
level = "error"
[hal]
socket = "{dir}/hal.sock"
state_dir = "{dir}/state"
period_ms = {period}
keepalive_timeout_s = 30.0
ramp_down_s = 2.0
report_period_ms = 100
[grid]
preset = "vde-ar-n-4105"
[grid.enter_service]
delay_s = 0.05
ramp_s = 0.0
[[evse]]
id = 1
kind = "dc"
max_charge_w = 11000.0
max_discharge_w = 11000.0
max_var = 6000.0
phases = 3
[[evse]]
id = 2
kind = "dc"
max_charge_w = 11000.0
max_discharge_w = 11000.0
phases = 3
[devices]
mode = "sim"
command_timeout_s = {timeout}
[sim.grid]
seed = 1
[sim.power_stage]
time_constant_s = 0.05
rate_limit_w_per_s = 100000.0
[sim.ev]
plug_in_at_s = 0.0
[sim.mcu]
contactor_delay_s = 0.01
keepalive_timeout_s = 5.0
[controller]
keepalive_interval_s = 0.5
"""

# The flooding client: a separate process, as evse would be, but as fast as it can.
FLOODER = r"""
import socket, sys, threading
from hal import protocol as p
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def drain():
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
threading.Thread(target=drain, daemon=True).start()
s.sendall(p.encode_message(p.Hello(p.PROTOCOL_VERSION, "flooder")))
s.sendall(p.encode_message(p.PilotCommand(1, 5.0)))
s.sendall(p.encode_message(p.AllowPowerOn(1, True, "bench")))
req = p.encode_message(p.PowerRequest(1, "setpoint", -10000.0, -10000.0, 0.0))
ka = p.encode_message(p.KeepAlive(1))
n = 0
try:
    while True:
        s.sendall(req + ka)
        n += 2
        if n % 2000 == 0:
            sys.stdout.write(f"{n}\n")
            sys.stdout.flush()
except (BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
    pass
"""


class Recorder:
    """Wraps the unit's engine.step and the MCU's set_contactor to timestamp both."""

    def __init__(self, daemon: HalDaemon) -> None:
        assert daemon.devices is not None
        unit = daemon.units[1]
        self.clock = daemon.clock
        self.trips: list[float] = []
        self.series: list[tuple[float, float, float, float, str, float]] = []  # + setpoint
        self.recording = False
        self.last: GridDecision | None = None
        mcu = daemon.devices.sets[1].mcu
        original_contactor = mcu.set_contactor
        engine = unit.engine
        original_step = engine.step
        world = daemon.devices.world
        assert world is not None
        self.world = world
        stage = world.evses[1].stage

        async def set_contactor(closed: bool, reason: str) -> None:
            if not closed and reason == "grid trip":
                self.trips.append(self.clock())
            await original_contactor(closed, reason)

        def step(now: float, sample: Any, requested_w: float, measured_w: float) -> GridDecision:
            d = original_step(now, sample, requested_w, measured_w)
            self.last = d
            if self.recording and sample is not None:
                v = max(sample.voltage_v) / NOMINAL_V * 100.0
                self.series.append(
                    (
                        now,
                        v,
                        sample.frequency_hz,
                        stage.active_w,
                        d.constraint.state.value,
                        d.setpoint_w,
                    )
                )
            return d

        mcu.set_contactor = set_contactor  # type: ignore[method-assign]
        engine.step = step  # type: ignore[method-assign]


async def wait_until(cond: Any, within: float, poll: float = 0.002) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(poll)
    return cond()


async def wait_normal(rec: Recorder) -> None:
    ok = await wait_until(
        lambda: rec.last is not None and rec.last.constraint.state is GridState.NORMAL, 5.0
    )
    if not ok:
        raise RuntimeError("unit did not return to service")


EXCURSIONS = [  # (name, clearing s, voltages or None, frequency or None)
    ("U>> 1.25 Un", 0.1, (126.0, 140.0), None),
    ("f> 51.5 Hz", 0.1, None, (51.52, 52.5)),
    ("U<< 0.45 Un", 0.3, (20.0, 44.0), None),
]


def excursion(rng: random.Random, kind: int) -> tuple[tuple[float, ...] | None, float | None]:
    _, _, vr, fr = EXCURSIONS[kind]
    if vr is not None:
        level = rng.uniform(*vr) / 100.0 * NOMINAL_V
        volts = [NOMINAL_V] * 3
        volts[rng.randrange(3)] = level
        return tuple(volts), None
    assert fr is not None
    return None, rng.uniform(*fr)


async def run_trips(rec: Recorder, n: int, n_short: int, rng: random.Random) -> dict[str, Any]:
    grid = rec.world.grid
    late: dict[str, list[float]] = {e[0]: [] for e in EXCURSIONS}
    missed = 0
    false_trips = 0
    ambiguous = 0
    plan = [("trip", rng.choices((0, 1, 2), (4, 4, 1))[0]) for _ in range(n)]
    plan += [("short", rng.choices((0, 1, 2), (4, 4, 1))[0]) for _ in range(n_short)]
    rng.shuffle(plan)
    for what, kind in plan:
        await wait_normal(rec)
        await asyncio.sleep(rng.uniform(0.0, 0.03))  # random phase against the samples
        name, clearing, _, _ = EXCURSIONS[kind]
        volts, freq = excursion(rng, kind)
        before = len(rec.trips)
        t0 = rec.clock()
        grid.set_override(volts, freq)
        if what == "trip":
            deadline = t0 + clearing
            tripped = await wait_until(lambda b=before: len(rec.trips) > b, clearing + 0.5)
            grid.set_override(None, None)
            if tripped:
                late[name].append(rec.trips[before] - deadline)
            else:
                missed += 1
        else:
            hold = clearing - 2 * PERIOD_MS / 1000.0 - rng.uniform(0.0, clearing / 2)
            await asyncio.sleep(max(0.0, hold))
            grid.set_override(None, None)
            actual = rec.clock() - t0
            await asyncio.sleep(0.05)
            if len(rec.trips) > before:
                if actual < clearing - PERIOD_MS / 1000.0:
                    false_trips += 1
                else:
                    ambiguous += 1  # the loop woke late: the excursion really was long
    return {"late": late, "missed": missed, "false": false_trips, "ambiguous": ambiguous}


async def run_fault_scenarios(rec: Recorder, n: int) -> dict[str, dict[str, Any]]:
    """The must-trip excursions again, with a slow stage on EVSE 1, then with EVSE 2's
    devices hung (sim fault injection)."""
    out: dict[str, dict[str, Any]] = {}
    ev1, ev2 = rec.world.evses[1], rec.world.evses[2]
    scenarios = (
        ("stage answers at its timeout", ev1, "stage_delay_s", 0.95 * TIMEOUT_S),
        ("second EVSE's MCU + stage hung", ev2, "mcu_delay_s", 1000.0),
    )
    for name, ev, knob, value in scenarios:
        setattr(ev.faults, knob, value)
        if ev is ev2:
            ev2.faults.stage_delay_s = value
        out[name] = await run_trips(rec, n, 0, random.Random(7))
        setattr(ev.faults, knob, 0.0)
        ev2.faults.stage_delay_s = 0.0
    return out


def t90(series: list[Any], t0: float, t1: float, col: int) -> float:
    """Time from t0 until column `col` has made 90 % of its change over [t0, t1]."""
    before = [r[col] for r in series if r[0] < t0][-10:]
    after = [r[col] for r in series if t1 - 1.0 <= r[0] < t1]
    start, end = statistics.mean(before), statistics.mean(after)
    need = start + 0.9 * (end - start)
    up = end > start
    return (
        next(r[0] for r in series if r[0] >= t0 and (r[col] >= need if up else r[col] <= need)) - t0
    )


async def run_droop(rec: Recorder) -> dict[str, float]:
    grid = rec.world.grid
    await wait_normal(rec)
    await asyncio.sleep(1.0)
    rec.series.clear()
    rec.recording = True
    await asyncio.sleep(0.5)
    p0 = rec.world.evses[1].stage.active_w
    t0 = rec.clock()
    grid.set_override(None, 50.7)
    await asyncio.sleep(8.0)
    t1 = rec.clock()
    grid.set_override(None, None)
    await asyncio.sleep(6.0)
    rec.recording = False
    p1 = statistics.mean(r[3] for r in rec.series if t1 - 1.0 <= r[0] < t1)
    return {
        "p0": p0,
        "p1": p1,
        "t90_setpoint": t90(rec.series, t0, t1, 5),
        "t90_stage": t90(rec.series, t0, t1, 3),
        "response": 2.0,
    }


async def run_cycle_for_plot(rec: Recorder, daemon: HalDaemon) -> None:
    """One trip / enter-service cycle with a visible delay and ramp, for the plot."""
    from hal.protocol import DerDirectives

    es = {
        "id": "bench-es",
        "controlType": "EnterService",
        "isDefault": True,
        "enterService": {
            "priority": 0,
            "highVoltage": 110.0,
            "lowVoltage": 90.0,
            "highFreq": 50.1,
            "lowFreq": 47.5,
            "delay": 2.0,
            "rampRate": 3.0,
        },
    }
    await daemon.directives.store_and_apply(DerDirectives([es]))  # stored and applied
    grid = rec.world.grid
    await wait_normal(rec)
    rec.recording = True
    await asyncio.sleep(1.0)
    grid.set_override((290.0, NOMINAL_V, NOMINAL_V), None)
    await asyncio.sleep(1.0)
    grid.set_override(None, None)
    await asyncio.sleep(7.0)
    rec.recording = False
    await daemon.directives.store_and_apply(DerDirectives([]))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def plot(droop: list[Any], cycle: list[Any], path: Path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed (make bench installs the bench extra): no plot"
    fig, axes = plt.subplots(2, 1, figsize=(10, 8))
    for ax, series, title, key in (
        (axes[0], droop, "LFSM-O droop (VDE-AR-N 4105, 5 %, 2 s)", "f"),
        (axes[1], cycle, "U>> trip and enter service (2 s delay, 3 s ramp)", "v"),
    ):
        t0 = series[0][0]
        ts = [s[0] - t0 for s in series]
        ax.plot(ts, [s[3] / 1000.0 for s in series], color="tab:blue", label="stage power kW")
        ax.set_ylabel("power kW (+ charges)")
        ax.set_xlabel("time s")
        ax.set_title(title)
        ax2 = ax.twinx()
        if key == "f":
            ax2.plot(ts, [s[2] for s in series], color="tab:red", label="frequency Hz")
            ax2.set_ylabel("frequency Hz")
        else:
            ax2.plot(ts, [s[1] for s in series], color="tab:red", label="max phase V %")
            ax2.set_ylabel("voltage % Un")
            tripped = [t for t, s in zip(ts, series, strict=True) if s[4] == "tripped"]
            if tripped:
                ax.axvspan(tripped[0], tripped[-1], color="0.9", label="tripped")
        ax.legend(loc="upper left")
        ax2.legend(loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return f"plot: {path.relative_to(ROOT)}"


async def bench(workdir: Path) -> int:
    n = int(os.environ.get("BENCH_GRID_N", "1000"))
    n_short = int(os.environ.get("BENCH_GRID_SHORT", "300"))
    n_fault = int(os.environ.get("BENCH_GRID_N_FAULT", "300"))
    cfg_path = workdir / "station.toml"
    cfg_path.write_text(STATION.format(dir=workdir, period=PERIOD_MS, timeout=TIMEOUT_S))
    cfg = load_station(cfg_path).hal
    daemon = HalDaemon(cfg, Notifier({}))
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    flooder: asyncio.subprocess.Process | None = None
    flood_out: list[str] = []
    try:
        if not await wait_until(lambda: cfg.socket_path.exists(), 10.0, 0.01):
            raise RuntimeError("hal did not come up")
        rec = Recorder(daemon)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        flooder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            FLOODER,
            str(cfg.socket_path),
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        await wait_until(lambda: abs(rec.world.evses[1].stage.active_w + 10000.0) < 50.0, 10.0)
        overruns0 = daemon.overruns
        t_start = time.monotonic()
        res = await run_trips(rec, n, n_short, random.Random(2026))
        elapsed = time.monotonic() - t_start
        faulted = await run_fault_scenarios(rec, n_fault)
        droop = await run_droop(rec)
        droop_series = list(rec.series)
        rec.series.clear()
        await run_cycle_for_plot(rec, daemon)
        cycle_series = list(rec.series)
    finally:
        if flooder is not None:
            flooder.terminate()
            out, _ = await asyncio.wait_for(flooder.communicate(), 5.0)
            flood_out = out.decode().split()
        stop.set()
        await task
    sent = int(flood_out[-1]) if flood_out else 0
    all_late = [x for v in res["late"].values() for x in v]
    period = PERIOD_MS / 1000.0
    print(f"flooder: {sent} messages in {elapsed:.0f} s ({sent / elapsed:.0f}/s) on the contract")
    print(
        f"sample period {PERIOD_MS} ms, loop overruns during the run: {daemon.overruns - overruns0}"
    )
    print("trip lateness after the clearing deadline (ms): median / p99 / max  [count]")
    for name, v in res["late"].items():
        if v:
            print(
                f"  {name:12s} {statistics.median(v) * 1e3:6.1f} / {pct(v, 0.99) * 1e3:6.1f}"
                f" / {max(v) * 1e3:6.1f}  [{len(v)}]"
            )
    if all_late:
        p99 = pct(all_late, 0.99)
        print(
            f"  {'all':12s} {statistics.median(all_late) * 1e3:6.1f} / {p99 * 1e3:6.1f}"
            f" / {max(all_late) * 1e3:6.1f}  [{len(all_late)}]  min {min(all_late) * 1e3:.1f}"
            f"  goal p99 <= {(period + 0.005) * 1e3:.0f} ms: "
            f"{'met' if p99 <= period + 0.005 else 'NOT met'}"
        )
    for name, r in faulted.items():
        v = [x for xs in r["late"].values() for x in xs]
        if v:
            p99 = pct(v, 0.99)
            print(
                f"  {name:34s} {statistics.median(v) * 1e3:6.1f} / {p99 * 1e3:6.1f}"
                f" / {max(v) * 1e3:6.1f}  [{len(v)}]  missed {r['missed']}"
                f"  goal: {'met' if p99 <= period + 0.005 else 'NOT met'}"
            )
    print(
        f"missed trips: {res['missed']} of {n}; false trips: {res['false']} of {n_short}"
        f" short excursions ({res['ambiguous']} ran long because the loop woke late)"
    )
    r = droop["response"]
    print(
        f"droop 50.0 -> 50.7 Hz: stage {droop['p0']:.0f} W -> {droop['p1']:.0f} W"
        f" (expected +20 % of |P at activation|); 90 % of the change after:"
        f" setpoint {droop['t90_setpoint']:.3f} s (ratio {droop['t90_setpoint'] / r:.3f}),"
        f" stage power {droop['t90_stage']:.3f} s (ratio {droop['t90_stage'] / r:.3f})"
        f" vs configured response time {r:.1f} s"
    )
    print(plot(droop_series, cycle_series, OUT / "grid_droop_trip.png"))
    ok = (
        res["missed"] == 0 and res["false"] == 0 and all(r["missed"] == 0 for r in faulted.values())
    )
    return 0 if ok else 1


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="evse-bench-"))
    try:
        return asyncio.run(bench(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
