"""The whole car chain across processes, unprivileged (no netns, no veth): hal on
simulated hardware with its control socket, `evse run` as a child process, and our
SimCar (evse/sim/ev/car.py) in the test process:

plug in (hal control socket, IEC 61851-1 B) -> SLAC over the Unix powerline (ISO 15118-3)
-> data link -> SDP on [::1] -> ISO 15118-20 DC_BPT Dynamic -> hal's meter sees power both
ways -> unplug: contactor open, the car's trace ends with its SessionStop.

A controller killed (-9) mid-discharge: hal takes the power to zero by itself (keep-alive
loss); a new `evse run` starts, the car (still plugged) matches again and a new session
charges. hal killed (-9) mid-discharge and started again: the station steps the pilot
through F (ISO 15118-3 retry), the car matches again and a new session moves power. A car
without ISO 15118 on an AC EVSE gets IEC 61851-1 basic charging: the
Annex A duty for the allowed current, power through hal.

The station's request alternates between charging and discharging (V2G, OCPP 2.1 Q01
allowed by a scripted CSMS), so "both ways" never depends on when the session began.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evse.sim.csms import ScriptedCsms
from evse.sim.ev.car import SimCar, leave
from evse.sim.ev.plan import CarPlan
from hal.sim.control_client import SimControl, SimControlError
from tests.conftest import HalProcess, sim_config

LIMIT_S = 120.0  # generous: SLAC + the -20 setup on a slow shared machine
PASSWORD = "0123456789abcdef"
DC_SIM = """
[sim.dc]
isolation_check_s = 0.5
precharge_v_per_s = 2000.0
[sim.dc.battery]
capacity_kwh = 60.0
soc_pct = 30.0
v_empty = 330.0
v_full = 420.0
"""
# The station's request: 6 kW charge and 5 kW discharge in turn, 12 s each.
SCHEDULE = "".join(
    f"[[controller.schedule]]\nat_s = {12.0 * i}\nrequest_w = {-5000.0 if i % 2 else 6000.0}\n"
    for i in range(1, 60))


def _free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        port: int = s.getsockname()[1]
        return port


def chain_config(d: Path, *, kind: str = "dc", csms_port: int | None = None,
                 sdp_port: int = 15118, slac_extra: str = "", iso: bool = True) -> Path:
    path = sim_config(d, request_w=6000.0, keepalive_timeout_s=1.0)
    text = path.read_text().replace("plug_in_at_s = 0.0\n", "")  # the car plugs itself
    text = text.replace('kind = "dc"', f'kind = "{kind}"', 1)
    text += f'pwm_duty_pct = 5.0\nid_token = "CARD0001"\nstate_dir = "{d}/evse"\n'
    text += SCHEDULE
    text += f'\n[sim]\ncontrol_socket = "{d}/world.sock"\n'
    if kind == "dc":
        text += DC_SIM
    if csms_port is not None:
        text += (f'\n[ocpp]\ncsms_url = "ws://127.0.0.1:{csms_port}/ocpp"\n'
                 f'station_id = "CS001"\nbasic_auth_password = "{PASSWORD}"\n'
                 '[ocpp.variables]\n"TxCtrlr.TxStartPoint" = "Authorized"\n')
    text += f'\n[slac]\ninterface = "unix:{d}/plc"\n{slac_extra}'
    if iso:
        text += (f'\n[[iso15118]]\nevse = 1\ninterface = "lo"\nsdp_port = {sdp_port}\n'
                 'evseid = "DE*SIM*E1"\ncontrol_modes = ["Dynamic"]\n')
    path.write_text(text)
    return path


async def start_evse(cfg: Path) -> asyncio.subprocess.Process:
    log = (cfg.parent / "evse.log").open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "evse.cli", "run", "--config", str(cfg),
            env=dict(os.environ), stdout=asyncio.subprocess.DEVNULL, stderr=log)
    finally:
        log.close()


async def stop_evse(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def until(pred: Callable[[], Any], what: str, logs: Callable[[], str],
                limit_s: float = LIMIT_S) -> None:
    try:
        async with asyncio.timeout(limit_s):
            while True:  # polls other processes: nothing here to wait on
                ok = await pred() if asyncio.iscoroutinefunction(pred) else pred()
                if ok:
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"never: {what}\n{logs()[-6000:]}") from None


class World:
    """hal's simulated world as the test reads it (the control socket's `state`)."""

    def __init__(self, ctl: SimControl) -> None:
        self.ctl = ctl
        self.seen_max_w = 0.0
        self.seen_min_w = 0.0

    async def evse(self) -> Any:
        try:
            ev = (await self.ctl.state()).evses[1]
        except SimControlError:
            return None
        self.seen_max_w = max(self.seen_max_w, ev.active_w)
        self.seen_min_w = min(self.seen_min_w, ev.active_w)
        return ev


def _logs(d: Path) -> Callable[[], str]:
    def read() -> str:
        return "".join(p.read_text(errors="replace") for p in (d / "evse.log", d / "hal.log")
                       if p.exists())
    return read


def _car(ctl: SimControl, d: Path, sdp_port: int, trace: list[dict[str, Any]],
         plan: CarPlan) -> SimCar:
    return SimCar(plan, ctl, 1, d / "plc", "lo", sdp_port, trace.append)


DC_CAR = CarPlan(service="DC_BPT", control_mode="Dynamic", soc_start=50.0,
                 loop_interval_s=0.1, timeout_scale=4.0)
ALLOW_V2X = {"Authorize": {"idTokenInfo": {"status": "Accepted"},
                           "allowedEnergyTransfer": ["DC_BPT"]},
             "NotifyEVChargingNeeds": {"status": "Accepted"}}


@dataclass
class Rig:
    """One DC_BPT chain: hal, `evse run` (replaced when a test restarts it), our car."""

    hal: HalProcess
    evse: asyncio.subprocess.Process
    ctl: SimControl
    world: World
    trace: list[dict[str, Any]]
    logs: Callable[[], str]
    car: SimCar
    run: asyncio.Task[None]
    cfg: Path


@contextlib.asynccontextmanager
async def dc_chain(d: Path, leave_s: float = 10.0) -> AsyncIterator[Rig]:
    sdp_port = _free_port()
    async with ScriptedCsms(ALLOW_V2X, passwords={"CS001": PASSWORD}) as csms:
        cfg = chain_config(d, csms_port=csms.port, sdp_port=sdp_port)
        hal = HalProcess(cfg).start()
        evse = await start_evse(cfg)
        ctl = SimControl(d / "world.sock")
        trace: list[dict[str, Any]] = []
        car = _car(ctl, d, sdp_port, trace, DC_CAR)
        r = Rig(hal, evse, ctl, World(ctl), trace, _logs(d), car,
                asyncio.create_task(car.run()), cfg)
        try:
            yield r
        finally:
            await leave(car, r.run, limit_s=leave_s)
            await ctl.close()
            await stop_evse(r.evse)
            r.hal.stop(signal.SIGKILL)


def test_iso15118_20_dc_bpt_dynamic_chain_across_processes_power_both_ways_then_unplug(
    short_tmp: Path,
) -> None:
    async def scenario() -> None:
        async with dc_chain(short_tmp, leave_s=1.0) as r:
            car, world, trace, logs = r.car, r.world, r.trace, r.logs
            await until(lambda: car.status.stage in ("charging", "discharging"),
                        "a -20 charge loop", logs)
            assert any(t["kind"] == "slac" and t["event"] == "LinkUp" for t in trace)

            async def both_ways() -> bool:
                await world.evse()
                return world.seen_max_w > 1000.0 and world.seen_min_w < -1000.0
            await until(both_ways, "hal's meter sees charge and discharge", logs)
            assert car.status.soc_pct != DC_CAR.soc_start  # hal's battery moved
            await leave(car, r.run, limit_s=60.0)
            assert car.status.stage == "ended" and not car.status.plugged

            async def open_and_idle() -> bool:
                ev = await world.evse()
                return ev is not None and not ev.contactor_closed and ev.cp == "A"
            await until(open_and_idle, "contactor open after unplug", logs)
            sent = [t["msg"] for t in trace if t["kind"] == "v2g" and t["dir"] == "tx"]
            assert sent[0] == "supportedAppProtocolReq"
            assert sent[-1] == "SessionStopReq", sent[-5:]
            sessions = [t for t in trace if t["kind"] == "session"]
            assert sessions[-1]["outcome"] == "terminated", sessions
            assert "Traceback" not in logs(), logs()
            assert r.evse.returncode is None

    asyncio.run(scenario())


def test_controller_killed_mid_discharge_power_to_zero_then_the_car_matches_again(
    short_tmp: Path,
) -> None:
    async def scenario() -> None:
        async with dc_chain(short_tmp) as r:
            car, world, logs = r.car, r.world, r.logs

            async def discharging() -> bool:
                ev = await world.evse()
                return ev is not None and ev.active_w < -1000.0
            await until(discharging, "a discharge through hal", logs)
            r.evse.kill()  # -9: no goodbye to hal, the SECC's socket just goes
            await r.evse.wait()

            async def zero() -> bool:  # hal alone: keep-alive loss -> ramp to zero
                ev = await world.evse()
                return ev is not None and abs(ev.active_w) < 50.0
            await until(zero, "hal takes the power to zero without the controller", logs)
            matches, sessions = car.status.matches, car.status.sessions
            assert car.status.plugged  # the car keeps its plug
            r.evse = await start_evse(r.cfg)
            await until(lambda: car.status.matches > matches
                        and car.status.sessions > sessions, "SLAC and a new session", logs)

            async def charging_again() -> bool:
                ev = await world.evse()
                return ev is not None and ev.active_w > 1000.0
            await until(charging_again, "the new session charges", logs)
            assert car.status.stage in ("charging", "discharging", "session")

    asyncio.run(scenario())


def test_hal_killed_mid_discharge_iso15118_3_restart_through_f_then_the_car_matches_again(
    short_tmp: Path,
) -> None:
    """hal -9 mid-discharge (systemd restarts it) with the car plugged: ISO 15118-3 lets the
    EVSE retry through E/F, so the station ends the session, steps the pilot through F and
    matches the car again; no power before the new session's PowerDelivery Start."""
    async def scenario() -> None:
        async with dc_chain(short_tmp) as r:
            car, world, trace, logs = r.car, r.world, r.trace, r.logs

            async def discharging() -> bool:
                ev = await world.evse()
                return ev is not None and ev.active_w < -1000.0
            await until(discharging, "a discharge through hal", logs)
            matches, sessions = car.status.matches, car.status.sessions
            r.hal.stop(signal.SIGKILL)  # the simulated MCU goes with it
            await asyncio.to_thread(r.hal.start)  # systemd starts it again
            closed_early: list[str] = []

            async def matched_again() -> bool:
                ev = await world.evse()
                if car.status.matches > matches and car.status.sessions > sessions:
                    return True
                if ev is not None and ev.contactor_closed:  # before a new session
                    closed_early.append(f"{ev.cp} {ev.active_w:.0f} W")
                return False
            await until(matched_again, "SLAC and a new session after the hal restart", logs)
            assert not closed_early, closed_early  # nothing assumed on after a restart
            assert car.status.plugged and r.evse.returncode is None
            pilots = [t for t in trace if t["kind"] == "pilot"]
            assert any(t["cp"] in ("E", "F") or t["duty_pct"] >= 97.0 for t in pilots)

            async def charging_again() -> bool:
                ev = await world.evse()
                return ev is not None and ev.contactor_closed and abs(ev.active_w) > 1000.0
            await until(charging_again, "the new session moves power", logs)
            assert "Traceback" not in logs(), logs()[-6000:]

    asyncio.run(scenario())


def test_car_without_iso15118_gets_basic_charging_iec61851_1_annex_a(short_tmp: Path) -> None:
    d = short_tmp

    async def scenario() -> None:
        cfg = chain_config(d, kind="ac", iso=False, slac_extra=(
            "retries = 0\ninit_timeout_s = 20.0\nmatch_timeout_s = 20.0\n"
            "basic_fallback = true\n"))
        hal = HalProcess(cfg).start()
        evse = await start_evse(cfg)
        ctl = SimControl(d / "world.sock")
        world, trace, logs = World(ctl), [], _logs(d)
        car = _car(ctl, d, 15118, trace, CarPlan(service="AC", iso15118=False))
        run = asyncio.create_task(car.run())
        try:
            # 6000 W on 3 x 230 V: 8.7 A per phase -> IEC 61851-1 Annex A duty = A / 0.6
            # (the discharge steps of the schedule offer no current: X1, no power).
            await until(lambda: car.status.stage == "basic", "the car sees a PWM current", logs)

            async def powered() -> bool:
                ev = await world.evse()
                return (ev is not None and 8.0 <= ev.duty_pct < 97.0 and ev.contactor_closed
                        and ev.active_w > 1000.0)
            await until(powered, "basic charging through hal", logs)
            ev = await world.evse()
            assert ev is not None and abs(ev.duty_pct - round(6000.0 / 690.0 / 0.6, 2)) < 0.02
            assert not any(t["kind"] == "slac" for t in trace)  # the car never spoke SLAC
        finally:
            await leave(car, run, limit_s=5.0)
            await ctl.close()
            await stop_evse(evse)
            hal.stop(signal.SIGKILL)

    asyncio.run(scenario())
