"""Our simulated car as a library: it plugs in through hal's control socket, matches
over the simulated powerline (SLAC, ISO 15118-3, EV side), finds the SECC with SDP and
runs ISO 15118-20 sessions (evse/sim/ev/evcc.py) until it is unplugged.

    car = SimCar(CarPlan(), SimControl("var/sim/world.sock"), evse_id=1,
                 slac_link=Path("var/sim/plc-1"), iso_iface="lo", sdp_port=15118,
                 on_trace=print)
    task = asyncio.create_task(car.run())   # returns after the car is unplugged
    car.status.stage, car.status.soc_pct    # what it does now
    car.want(-5000.0)                       # from now on it wants to give 5 kW back
    car.unplug()                            # the driver leaves: SessionStop, then unplug

Like a real car it keeps its plug when the station goes away: a lost connection is
followed by SDP and a new TCP connection; when its modem has lost the station's (the
station's process went) or SDP gets no answer, the data link is gone and it matches
again (SLAC); a pilot that goes to E/F or X1 and back to 5 % also starts
SLAC again. A car with `iso15118 = False` never answers SLAC: the station falls back to
IEC 61851-1 basic charging and the car takes what the PWM offers (stage "basic").

`on_trace` gets one dict per event: {"t": monotonic, "kind": "v2g", "dir": "tx"|"rx",
"msg": name, "fields": {...}}; {"kind": "slac", "event": "LinkUp"|"MatchFailed"|...,
"reason"}; {"kind": "plug"|"replug"|"unplug"|"session"|"pilot", ...}.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from evse.iso15118.exi.errors import ExiError
from evse.sim.ev import client
from evse.sim.ev.battery import Battery
from evse.sim.ev.config import PowerStep
from evse.sim.ev.evcc import Evcc
from evse.sim.ev.plan import CarPlan
from evse.slac.events import LinkUp, MatchDropped, MatchFailed
from evse.slac.link import Link, RawSocketLink
from evse.slac.link_unix import UnixPowerlineLink
from evse.slac.runner import EvSlac, wait_for_event
from hal.sim.control_client import EvseWorld, SimControl, SimControlError

Stage = Literal["unplugged", "matching", "session", "charging", "discharging", "basic",
                "ended"]
T = TypeVar("T")
_POLL_S = 0.2  # the car looks at its pilot this often
_MATCH_LIMIT_S = 60.0  # one SLAC attempt, all its retries included (ISO 15118-3 timers)
_RETRY_S = 3.0  # after a failed match or session, unless the pilot says more first
_LEAVE_LIMIT_S = 15.0  # unplug(): the session's stop sequence gets this long
_MOVING_W = 50.0  # above this the car counts as charging / discharging


@dataclass(slots=True)
class CarStatus:
    stage: Stage
    soc_pct: float
    service: str
    control_mode: str
    plugged: bool = False
    target_w: float | None = None  # what the car wants now (+ charge, - discharge)
    present_w: float = 0.0  # what flows, as the SECC reports it (basic: hal's meter)
    last_error: str = ""
    matches: int = 0  # SLAC matchings that brought the data link up
    sessions: int = 0  # -20 sessions begun (TCP connections to the SECC)


def car_macs(evse_id: int) -> tuple[bytes, bytes]:
    """(host, modem) MAC of the car at `evse_id`: locally administered, one per cable."""
    return bytes([0x02, 0, 0, 0, 0x0E, evse_id & 0xFF]), bytes([0, 0xB0, 0x52, 0x0E, 0,
                                                                 evse_id & 0xFF])


class SimCar:
    def __init__(self, plan: CarPlan, control: SimControl, evse_id: int, slac_link: Path,
                 iso_iface: str, sdp_port: int, on_trace: Callable[[dict[str, Any]], None],
                 clock: Callable[[], float] = time.monotonic,
                 slac_iface: str | None = None) -> None:
        self.plan = plan
        self.evse_id = evse_id
        self.slac_link = slac_link
        # A network interface toward our (real or plc_sim) modem: SLAC on a raw socket
        # (CAP_NET_RAW, `evse sim --netns`) instead of the Unix powerline `slac_link`.
        self.slac_iface = slac_iface
        self.iso_iface = iso_iface
        self.sdp_port = sdp_port
        self.status = CarStatus("unplugged", plan.soc_start, plan.service, plan.control_mode)
        self._control = control
        self._on_trace = on_trace
        self._clock = clock
        self._cfg = plan.ev_config()
        self._battery = Battery(plan.capacity_wh, plan.soc_start)
        self._t0 = clock()
        self._leave = asyncio.Event()
        self._pilot_changed = asyncio.Event()  # set on each look at the pilot
        self._cp = "A"
        self._duty = 100.0
        self._reset_epoch = 0  # counts the pilot's E/F / X1 steps while plugged
        self._machine: Evcc | None = None
        self._resume: tuple[bytes, bool] | None = None  # a paused session's id
        self._plc: UnixPowerlineLink | None = None  # our modem on the powerline

    # ---- the driver's side -------------------------------------------------------------

    def unplug(self) -> None:
        """The driver leaves: the session ends (SessionStop), then the plug comes out."""
        self._leave.set()
        if self._machine is not None:
            self._machine.stop_requested = True

    def want(self, power_w: float) -> None:
        """From now on the car wants `power_w` (+ charge, - discharge; its limits and, in
        Dynamic mode, the station still decide): a change of its power script."""
        t = self._clock() - self._t0
        script = (*(s for s in self._cfg.script if s.at_s < t), PowerStep(t, power_w))
        self._cfg = replace(self._cfg, script=script)
        if self._machine is not None:  # the running session's next loop asks for it
            self._machine.cfg = replace(self._machine.cfg, script=script)

    async def run(self) -> None:
        self._t0 = self._clock()
        soc = self.plan.soc_start if self.plan.dc else None
        await self._control.plug(self.evse_id, self.plan.pp_a, soc)
        self.status.plugged = True
        self.status.stage = "basic" if not self.plan.iso15118 else "matching"
        self._trace("plug", pp_a=self.plan.pp_a, soc_pct=self.plan.soc_start)
        slac: EvSlac | None = None
        if self.plan.iso15118:
            link: Link
            if self.slac_iface is not None:
                link = RawSocketLink(self.slac_iface)  # the interface's MAC is the host's
            else:
                host, modem = car_macs(self.evse_id)
                link = self._plc = UnixPowerlineLink(self.slac_link, host, modem)
            slac = EvSlac(link)
        watch = asyncio.create_task(self._watch_pilot(), name="car-pilot")
        slac_task = asyncio.create_task(slac.run(), name="car-slac") if slac else None
        try:
            if slac is None:
                await self._basic()
            else:
                await self._iso(slac)
        finally:
            for task in (watch, slac_task):
                if task is not None:
                    await _cancel(task)
            self.status.plugged = False
            with contextlib.suppress(SimControlError):
                await self._control.unplug(self.evse_id)
            self.status.stage = "ended"
            self.status.present_w = 0.0
            self._trace("unplug")

    # ---- the pilot, as the car sees it ----------------------------------------------------

    async def _watch_pilot(self) -> None:
        was_digital = False
        while True:
            try:
                world = (await self._control.state()).evses[self.evse_id]
            except SimControlError as exc:  # hal restarting: the car waits, still plugged
                self.status.last_error = str(exc)
            else:
                if not world.plugged and self.status.plugged and not self._leave.is_set():
                    world = await self._replug(world)  # hal restarted: the car is still there
                if world.soc_pct is not None:
                    self._battery.soc = world.soc_pct
                self.status.soc_pct = self._battery.soc
                self._cp, self._duty = world.cp, world.duty_pct
                digital = self._digital()
                if was_digital and (world.cp in ("E", "F") or world.duty_pct >= 97.0):
                    self._reset_epoch += 1  # ISO 15118-3: E/F or X1, then SLAC again
                    self._trace("pilot", cp=world.cp, duty_pct=world.duty_pct)
                was_digital = digital or (was_digital and world.cp in ("B", "C", "D")
                                          and world.duty_pct < 97.0)
                if not self.plan.iso15118:
                    offered = 8.0 <= world.duty_pct < 97.0  # IEC 61851-1: a current offered
                    self.status.stage = "basic" if offered else "matching"
                    self.status.present_w = world.active_w
                self._pilot_changed.set()
            await asyncio.sleep(_POLL_S)

    async def _replug(self, world: EvseWorld) -> EvseWorld:
        """hal came back without us: the plug (and the battery's charge) re-sent."""
        soc = self._battery.soc if self.plan.dc else None
        self._trace("replug", soc_pct=soc)
        try:
            return await self._control.plug(self.evse_id, self.plan.pp_a, soc)
        except SimControlError as exc:
            self.status.last_error = str(exc)
            return world

    def _digital(self) -> bool:
        """IEC 61851-1: B/C/D with 5 % duty: ISO 15118 communication wanted."""
        return self._cp in ("B", "C", "D") and abs(self._duty - 5.0) < 1.0

    async def _until(self, pred: Callable[[], bool]) -> bool:
        """Wait for `pred` on the pilot; False when the driver leaves first."""
        while not pred():
            if self._leave.is_set():
                return False
            self._pilot_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._pilot_changed.wait()
        return not self._leave.is_set()

    async def _race(self, coro: Coroutine[Any, Any, T], epoch: int) -> T | None:
        """`coro`'s result, or None when the pilot went through E/F / X1 meanwhile, or
        the driver left (a running session gets `_LEAVE_LIMIT_S` to stop first)."""
        task = asyncio.ensure_future(coro)
        left_at: float | None = None
        try:
            while not task.done():
                if left_at is None and self._leave.is_set():
                    left_at = self._clock()
                gone = left_at is not None and (
                    self._machine is None or self._clock() - left_at > _LEAVE_LIMIT_S)
                if self._reset_epoch != epoch or gone:
                    await _cancel(task)
                    return None
                await asyncio.wait({task}, timeout=_POLL_S)
            return task.result()
        finally:
            await _cancel(task)

    # ---- basic charging (no ISO 15118) -------------------------------------------------

    async def _basic(self) -> None:
        await self._leave.wait()  # S2 stays closed: the car takes what the PWM offers

    # ---- ISO 15118 ---------------------------------------------------------------------

    async def _iso(self, slac: EvSlac) -> None:
        while await self._until(self._digital):
            epoch = self._reset_epoch
            self.status.stage = "matching"
            linked = await self._race(self._match(slac), epoch)
            if not linked:
                await self._race(self._pause(_RETRY_S), epoch)
                continue
            while not self._leave.is_set() and self._reset_epoch == epoch:
                outcome = await self._race(self._session(), epoch)
                if outcome is None or outcome == "no_sdp":
                    break  # the data link is gone: match again
                if outcome == "terminated":
                    self.status.stage = "ended"
                    await self._leave.wait()  # done: the car waits for its driver
                    return
                await self._race(self._pause(
                    self._cfg.resume_after_s if outcome == "paused" else _RETRY_S), epoch)
                if self._plc is not None and not self._plc.modem.linked():
                    # Our modem lost the station's (its process went): the data link is
                    # gone, SDP would only wait; match again (ISO 15118-3).
                    self._trace("link", event="lost")
                    break

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._leave.wait()

    async def _match(self, slac: EvSlac) -> bool:
        while not slac.events.empty():
            slac.events.get_nowait()  # outcomes of an attempt that was cut short
        slac.start()
        try:
            async with asyncio.timeout(_MATCH_LIMIT_S):
                event = await wait_for_event(slac.events, (LinkUp,))
        except TimeoutError:
            event = MatchFailed("no outcome within the car's limit")
        reason = event.reason if isinstance(event, MatchFailed | MatchDropped) else ""
        self._trace("slac", event=type(event).__name__, reason=reason)
        if isinstance(event, LinkUp):
            self.status.matches += 1
            return True
        self.status.last_error = f"SLAC: {reason}"
        return False

    async def _session(self) -> str:
        """One TCP connection's -20 session: terminated / paused / failed / no_sdp."""
        try:
            link = await client.connect(self._cfg, self.iso_iface, self.sdp_port)
        except TimeoutError as exc:
            self.status.last_error = f"SDP: {exc}"
            return "no_sdp"
        except (OSError, ssl.SSLError, client.NoTls) as exc:
            self.status.last_error = f"connect: {exc}"
            return "failed"
        resume_id, pause_done = self._resume or (None, False)
        machine = Evcc(self._cfg, self._battery, self._t0, resume_id, pause_done)
        machine.stop_requested = self._leave.is_set()
        self._machine = machine
        self.status.sessions += 1
        self.status.stage = "session"
        try:
            done = await client.session(machine, link, self._clock, self._on_message)
        except (OSError, ExiError, ssl.SSLError) as exc:
            self.status.last_error = f"session: {exc}"
            return "failed"
        finally:
            self._machine = None
            await link.close()
        self._resume = (machine.sid, machine.pause_done) if done.outcome == "paused" else None
        self.status.present_w = 0.0
        self.status.stage = "session"
        if done.outcome == "failed":
            self.status.last_error = done.reason
        self._trace("session", outcome=done.outcome, reason=done.reason,
                    energy_in_wh=self._battery.energy_in_wh,
                    energy_out_wh=self._battery.energy_out_wh)
        return done.outcome

    def _on_message(self, direction: str, name: str, msg: Any) -> None:
        to_json = getattr(msg, "to_json", None)
        fields = to_json() if callable(to_json) else {}
        self._trace("v2g", dir=direction, msg=name, fields=fields)
        machine = self._machine
        if machine is None or direction != "tx":
            return
        now_s = self._clock() - self._t0
        self.status.target_w = self._cfg.wanted_w(now_s)
        if name.endswith("ChargeLoopReq") and machine.loops:
            present = machine.loops[-1].present_w
            self.status.present_w = present
            self.status.stage = ("charging" if present > _MOVING_W else "discharging"
                                 if present < -_MOVING_W else "session")
        elif name == "PowerDeliveryReq":
            self.status.stage = "session"
        self.status.soc_pct = self._battery.soc

    def _trace(self, kind: str, **fields: Any) -> None:
        self._on_trace({"t": self._clock(), "kind": kind, "evse": self.evse_id, **fields})


async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancel and reap; again until it ends (3.11's wait_for can swallow one)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled():
        task.exception()  # retrieved; a failure there was the step's own outcome


class Driver(Protocol):
    """What `leave` needs: SimCar, or a party driving a car in another process."""

    def unplug(self) -> None: ...


async def leave(car: Driver, task: asyncio.Task[None], limit_s: float = _LEAVE_LIMIT_S) -> None:
    """unplug() and wait for `car.run()` to return; past `limit_s` the plug is pulled."""
    car.unplug()
    done, _ = await asyncio.wait({task}, timeout=limit_s)
    if not done:
        await _cancel(task)
