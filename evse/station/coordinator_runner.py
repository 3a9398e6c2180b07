"""The coordinator of one EVSE as a supervised part of `evse run`: feeds the pure
`Coordinator` (evse/station/coordinator.py) with the pilot state from hal, SLAC's
outcomes, the SECC's PowerDelivery / end and the energy manager's request, and carries
out its actions: pilot duty and power gate through the controller, SLAC start / drop,
the SECC's data link. Nothing here waits on hal: it reads the controller's latest view.

`[slac] interface = "sim"` puts SLAC on an in-memory powerline (unprivileged); with
`sim_ev = true` our EV's SLAC side answers on it while the pilot is in B-D. `interface =
"unix:DIR"` puts it on a powerline across processes (evse/slac/link_unix.py): the car is
another process (evse/sim/ev/car.py), unprivileged too (`make sim`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from evse.slac.config import SlacConfig
from evse.slac.ev_fsm import EvSlacConfig
from evse.slac.events import PilotToggle
from evse.slac.evse_fsm import EvseSlacConfig
from evse.slac.link import Link, MemoryPowerline, RawSocketLink
from evse.slac.link_unix import UnixPowerlineLink
from evse.slac.runner import EvseSlac, EvSlac
from evse.station.coordinator import (
    Action,
    Coordinator,
    PowerGate,
    SetDuty,
    StartSecc,
    StartSlac,
    StopSecc,
    StopSlac,
)
from evse.station.iso_session import IsoSession
from evse.station.pilot_duty import current_for_power
from hal.protocol import PowerRequest

log = logging.getLogger(__name__)

_POLL_S = 0.05  # how often the pilot and the request are looked at
SIM_EVSE_MAC = bytes.fromhex("020000000a01")
SIM_EV_MAC = bytes.fromhex("020000000e01")
SIM_EVSE_MODEM_MAC = bytes.fromhex("00b0520a0001")
_PLUGGED = frozenset({"B", "C", "D"})


class ControllerPort(Protocol):
    evses: Any  # dict[int, EvseView]
    cfg: Any  # StationConfig
    hal: Any  # HalClient: `connected` (asyncio.Event) and `connects` (handshakes so far)

    def latest_request(self, evse_id: int) -> PowerRequest | None: ...
    def set_power_gate(
        self, evse_id: int, gate: bool, reason: str, duty_pct: float | None = None
    ) -> None: ...


class SupervisorPort(Protocol):
    def start(self, name: str, factory: Any) -> None: ...


def gated_evses(cfg: Any) -> frozenset[int]:
    """The EVSEs whose power waits on a session: ISO 15118 SECCs and [slac]."""
    ids = {iso.evse_id for iso in cfg.iso15118}
    if cfg.slac is not None:
        ids.add(cfg.slac.evse_id)
    return frozenset(ids)


def start_session_parts(controller: Any, sup: SupervisorPort) -> None:
    """One IsoSession per [[iso15118]] EVSE, and the coordinator of the [slac] EVSE."""
    isos = {iso.evse_id: IsoSession(controller, iso) for iso in controller.cfg.iso15118}
    slac: SlacConfig | None = controller.cfg.slac
    if slac is not None:
        part = CoordinatorPart(controller, slac, isos.get(slac.evse_id))
        sup.start(f"coordinator-{slac.evse_id}", part.run)
    for eid, iso in isos.items():
        sup.start(f"iso15118-{eid}", iso.run)


class CoordinatorPart:
    def __init__(self, controller: ControllerPort, cfg: SlacConfig, iso: IsoSession | None,
                 clock: Any = time.monotonic, sim_ev: EvSlacConfig | None = None) -> None:
        self._c = controller
        self.cfg = cfg
        self.eid = cfg.evse_id
        self.iso = iso
        self._clock = clock
        self.coord = Coordinator(cfg.coordinator)
        self.slac: EvseSlac | None = None
        self.ev: EvSlac | None = None
        self._sim_ev = sim_ev
        # The simulated car's pilot as it sets it (CM_VALIDATE toggles): hal's simulated
        # pilot does not follow it yet (hal sim control is on branch simchain).
        self.ev_pilot = "B"
        if iso is not None:
            iso.link_up = False  # the coordinator says when (replaces assume_link)
            iso.on_energy = self._on_energy
            iso.on_ended = self._on_ended
        if iso is None and cfg.coordinator.slac:
            log.warning("evse %d: [slac] without [[iso15118]]: a match starts no SECC",
                        self.eid)

    def _links(self) -> Link | None:
        if not self.cfg.coordinator.slac:
            return None
        if self.cfg.powerline is not None:
            return UnixPowerlineLink(self.cfg.powerline, SIM_EVSE_MAC, SIM_EVSE_MODEM_MAC,
                                     self.cfg.attenuation_db)
        if self.cfg.interface != "sim":
            return RawSocketLink(self.cfg.interface)
        line = MemoryPowerline()
        if self.cfg.sim_ev:
            self.ev = EvSlac(line.link(SIM_EV_MAC, bytes.fromhex("00b0520e0001")), self._sim_ev)
        return line.link(SIM_EVSE_MAC, SIM_EVSE_MODEM_MAC)

    async def run(self) -> None:
        self.coord = Coordinator(self.cfg.coordinator)  # a restart begins afresh
        link = self._links()
        if link is not None:
            slac_cfg = EvseSlacConfig(slac_init_timeout=self.cfg.init_timeout_s,
                                      validate=self.cfg.validate)
            self.slac = EvseSlac(link, slac_cfg)
        try:
            # The idle duty (5 %, or X1 without a modem) replaces [controller] pwm_duty_pct.
            self._apply([SetDuty(self.coord.duty_pct)])
            self._apply(self.coord.on_current(self._current(), self._clock()))
            async with asyncio.TaskGroup() as tg:
                if self.slac is not None:
                    tg.create_task(self.slac.run())
                if self.ev is not None:
                    tg.create_task(self.ev.run())
                tg.create_task(self._loop())
        finally:  # power off and no session behind a dead coordinator
            self._apply([PowerGate(False, "coordinator stopped"), StopSecc("stopped")])
            self._view_session(None)

    def _hal_link(self) -> int | None:
        """Which connection to hal is up (its handshake count), None while none is."""
        hal = self._c.hal
        return int(hal.connects) if hal.connected.is_set() else None

    async def _loop(self) -> None:
        pilot: str | None = "A"
        link = self._hal_link()
        stale: object = None  # the last measurement of a hal that went: not the pilot now
        while True:
            now = self._clock()
            view = self._c.evses.get(self.eid)
            if (new_link := self._hal_link()) != link:
                if link is not None:  # the hal we knew went (another may be there already)
                    log.warning("evse %d: hal link lost: session ended, power off", self.eid)
                    stale, pilot = (view.measurement if view else None), None
                    self._apply(self.coord.on_hal_lost(now))
                if new_link is not None:  # ISO 15118-3: a retry through F, then matching
                    self._apply(self.coord.on_hal_back(now))
                link = new_link
            m = view.measurement if view else None
            cp: str | None = m.cp_state if m else "A"
            if pilot is None and (link is None or m is stale):
                cp = None  # hal gone, or back without a report yet: nothing read or assumed
            if cp is not None and cp != pilot:
                self._ev_pilot(pilot or "?", cp)
                pilot = cp
                if self.slac is not None:
                    self.slac.pilot_state(cp)  # CM_VALIDATE counts B -> C toggles
                self._apply(self.coord.on_pilot(cp, now))
            if self.slac is not None:
                while not self.slac.events.empty():
                    event = self.slac.events.get_nowait()
                    if isinstance(event, PilotToggle):
                        continue  # an EV side's output: never ours
                    log.info("evse %d: SLAC %s", self.eid, type(event).__name__)
                    self._apply(self.coord.on_slac(event, now))
            if self.ev is not None:
                while not self.ev.events.empty():
                    ev_event = self.ev.events.get_nowait()  # the simulated car's outcomes
                    if isinstance(ev_event, PilotToggle):
                        self.ev_pilot = ev_event.state
            amps = self._current()
            if amps != self.coord.current_a:
                self._apply(self.coord.on_current(amps, now))
            self._apply(self.coord.tick(now))
            await asyncio.sleep(_POLL_S)

    def _ev_pilot(self, before: str, after: str) -> None:
        """The simulated car: it starts SLAC when plugged in, stops when unplugged."""
        if self.ev is None:
            return
        if after in _PLUGGED and before not in _PLUGGED and self.coord.duty_pct == 5.0:
            self.ev.start()
        elif after not in _PLUGGED and before in _PLUGGED:
            self.ev.stop()

    def _current(self) -> float:
        """The energy manager's request (hal-bounded) as a per-phase AC current."""
        req = self._c.latest_request(self.eid)
        if req is None:
            return 0.0
        watts = req.setpoint_w if req.mode == "setpoint" else req.max_w
        view = self._c.evses.get(self.eid)
        c = view.constraint if view else None
        if c is not None:
            watts = min(watts, c.p_max_w)
        hal = self._c.cfg.hal
        unit = next(u for u in hal.evses if u.id == self.eid)
        return current_for_power(watts, hal.grid.nominal_voltage_v, unit.phases)

    def _on_energy(self, on: bool, reason: str) -> None:
        self._apply(self.coord.on_energy_transfer(on, self._clock()))

    def _on_ended(self, reason: str) -> None:
        self._apply(self.coord.on_secc_ended(reason, self._clock()))

    def _view_session(self, session: str | None) -> None:
        view = self._c.evses.get(self.eid)
        if view is not None:
            view.session = session

    def _apply(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, SetDuty):
                log.info("evse %d: pilot duty %.2f %%", self.eid, a.duty_pct)
                view = self._c.evses.get(self.eid)  # the gate as sent so far: unchanged
                gate = bool(view and view.gate)
                self._c.set_power_gate(self.eid, gate, "pilot duty", a.duty_pct)
                if self.ev is not None and a.duty_pct == 5.0 and self.coord.pilot in _PLUGGED:
                    self.ev.start()  # after our state F step: the car tries again
            elif isinstance(a, PowerGate):
                log.info("evse %d: power %s (%s)", self.eid, "on" if a.on else "off", a.reason)
                self._c.set_power_gate(self.eid, a.on, a.reason)
            elif isinstance(a, StartSlac) and self.slac is not None:
                log.info("evse %d: pilot B with 5 %%: SLAC matching starts", self.eid)
                self.slac.pilot_b_5_percent()
            elif isinstance(a, StopSlac) and self.slac is not None:
                self.slac.pilot_left(self.coord.pilot)
            elif isinstance(a, StartSecc | StopSecc) and self.iso is not None:
                self.iso.link_up = isinstance(a, StartSecc)
        self._view_session(self.coord.session)
