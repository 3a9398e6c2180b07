"""`[slac]` config, the controller's power gate, and the coordinator part running for
real over the in-memory powerline with our EV's SLAC side (what `make sim` uses)."""

from __future__ import annotations

import asyncio
import tomllib
from typing import Any

import pytest

from evse.config import parse_station
from evse.controller import Controller
from evse.iso15118.d20.types import EnergyTransfer, SessionEnded
from evse.slac.ev_fsm import EvSlacConfig, EvState
from evse.station.coordinator import Phase
from evse.station.coordinator_runner import CoordinatorPart
from evse.station.iso_session import IsoSession
from hal.config_reader import ConfigError
from hal.protocol import (
    AllowPowerOn,
    Measurement,
    Message,
    PilotCommand,
    PowerRequest,
    Welcome,
)
from tests.conftest import ROOT

SIM = ROOT / "config" / "sim.toml"
LIMIT_S = 30.0  # generous: only "it never happened" fails


def _data(kind: str = "dc", slac: dict[str, Any] | None = None, iso: bool = True) -> Any:
    data = tomllib.loads(SIM.read_text())
    data["evse"][0]["kind"] = kind
    data.pop("mqtt", None)
    # sim.toml's chain (its car, [slac], [[iso15118]]) off: each test sets its own
    data["sim"].pop("car", None)
    data.pop("slac", None)
    data.pop("iso15118", None)
    if iso:
        data["iso15118"] = [{"evse": 1, "interface": "eth1", "evseid": "DE*ABC*E1",
                             "services": ["AC"] if kind == "ac" else ["DC"]}]
    if slac is not None:
        data["slac"] = slac
    return data


def _controller(data: Any) -> tuple[Controller, list[Message]]:
    c = Controller(parse_station(data, SIM), request_w=7000.0)
    sent: list[Message] = []
    c.hal.send = lambda msg: sent.append(msg) is None  # type: ignore[method-assign]
    c.evses[1] = c._fresh(1)
    c.evses[1].max_charge_w = c.evses[1].max_discharge_w = 11000.0
    return c, sent


def _measure(cp: str) -> Measurement:
    return Measurement(1, [230.0] * 3, 50.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, cp_state=cp,
                       contactor_closed=False, energy_valid=True)


def test_slac_config_reads_the_keys() -> None:
    cfg = parse_station(_data("ac", {"interface": "sim", "sim_ev": True, "retries": 2}), SIM)
    assert cfg.slac is not None and cfg.slac.interface == "sim" and cfg.slac.sim_ev
    assert cfg.slac.coordinator.retries == 2 and cfg.slac.coordinator.basic_fallback
    dc = parse_station(_data("dc", {"interface": "eth1"}), SIM)
    assert dc.slac is not None and not dc.slac.coordinator.basic_fallback  # DC: default off


@pytest.mark.parametrize(
    ("kind", "slac", "key", "why"),
    [
        ("ac", {"interface": "eth1", "retry": 1}, "slac.retry", "unknown key"),
        ("dc", {"interface": "eth1", "basic_fallback": True}, "slac.basic_fallback", "AC only"),
        ("ac", {"interface": "a/b"}, "slac.interface", "not a network interface"),
        ("ac", {"interface": "eth1", "sim_ev": True}, "slac.sim_ev", "sim"),
        ("ac", {"interface": "eth1", "evse": 2}, "slac.evse", "no [[evse]]"),
        ("ac", {"interface": "eth1", "ef_step_s": 1.0}, "slac.ef_step_s", ""),
        ("ac", {"enable": False, "basic_fallback": False}, "slac.enable", "nothing charges"),
        ("ac", {"interface": "eth1", "validate": "yes"}, "slac.validate", ""),
    ],
)
def test_slac_config_errors_name_the_key(kind: str, slac: Any, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_station(_data(kind, slac), SIM)
    assert key in str(exc.value) and why in str(exc.value)


def test_iso_contactor_waits_for_powerdelivery_start_even_in_free_vend_iso15118_20() -> None:
    c, sent = _controller(_data("dc"))  # [[iso15118]] with assume_link, no [slac]
    assert c.free_vend and c.evses[1].allowed and not c.evses[1].gate
    c._send_pilot_and_allow(1, "connect")
    assert sent[-1] == AllowPowerOn(1, False, "connect")  # C before PowerDelivery: open
    iso = IsoSession(c, c.cfg.iso15118[0])
    iso.act((EnergyTransfer(start=True),))
    assert sent[-1] == AllowPowerOn(1, True, "ISO 15118 PowerDelivery Start")
    iso.act((SessionEnded("terminate"),))
    assert sent[-1] == AllowPowerOn(1, False, "ISO 15118 session ended: terminate")


def test_an_evse_without_a_session_part_keeps_its_old_power_policy() -> None:
    c, _ = _controller(_data("dc", iso=False))
    assert c.evses[1].gate and c.evses[1].allowed


async def _wait(cond: Any) -> None:
    async with asyncio.timeout(LIMIT_S):
        while not cond():  # noqa: ASYNC110 - polls the part's state
            await asyncio.sleep(0.02)


def test_plug_in_matches_our_ev_over_slac_and_starts_the_secc_iso15118_3() -> None:
    c, sent = _controller(_data("dc", {"interface": "sim", "sim_ev": True}))
    assert c.cfg.slac is not None
    iso = IsoSession(c, c.cfg.iso15118[0])
    part = CoordinatorPart(c, c.cfg.slac, iso)
    assert not iso.wanted()  # assume_link no longer decides

    async def scenario() -> None:
        task = asyncio.create_task(part.run())
        c.evses[1].measurement = _measure("B")
        await _wait(lambda: iso.link_up)
        assert part.coord.phase is Phase.ISO and c.evses[1].session == "iso15118"
        assert iso.wanted()
        c.evses[1].measurement = _measure("C")
        await asyncio.sleep(0.2)
        assert not c.evses[1].gate  # C alone: no power in an ISO session
        iso.act((EnergyTransfer(start=True),))
        assert c.evses[1].gate
        assert sent[-1] == AllowPowerOn(1, True, "ISO 15118 PowerDelivery Start")
        c.evses[1].measurement = _measure("A")  # unplug mid-session
        await _wait(lambda: not iso.link_up)
        assert not c.evses[1].gate and c.evses[1].session == "none"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_hal_link_lost_ends_the_session_and_hal_back_matches_again_through_f_iso15118_3(
) -> None:
    c, sent = _controller(_data("dc", {"interface": "sim", "sim_ev": True}))
    assert c.cfg.slac is not None
    iso = IsoSession(c, c.cfg.iso15118[0])
    part = CoordinatorPart(c, c.cfg.slac, iso)
    now = [0.0]
    part._clock = lambda: now[0]  # fake clock: T_step_EF passes at once
    c.hal.connects = 1
    c.hal.connected.set()

    async def scenario() -> None:
        task = asyncio.create_task(part.run())
        c.evses[1].measurement = _measure("C")
        await _wait(lambda: iso.link_up)
        iso.act((EnergyTransfer(start=True),))
        assert c.evses[1].gate
        c.hal.connected.clear()  # hal killed: its last report (C) stays in the view
        await _wait(lambda: not iso.link_up)
        assert not c.evses[1].gate and c.evses[1].duty_pct == 0.0  # F waits for the next hal
        assert part.coord.phase is Phase.HAL_LOST and c.evses[1].session == "none"
        await asyncio.sleep(0.2)
        assert part.coord.phase is Phase.HAL_LOST  # the stale C started nothing
        c.hal.connects = 2  # a new hal
        c.hal.connected.set()
        await _wait(lambda: part.coord.phase is Phase.RETRY_F)
        c._on_connect(Welcome(1, [], []))
        assert AllowPowerOn(1, False, "controller (re)connected") in sent
        assert PilotCommand(1, 0.0) in sent  # state F to the new hal
        c.evses[1].measurement = _measure("F")  # the new hal's first report
        await asyncio.sleep(0.2)
        assert part.coord.phase is Phase.RETRY_F and not iso.link_up
        now[0] = 10.0  # past T_step_EF
        await _wait(lambda: part.coord.phase is not Phase.RETRY_F)
        assert PilotCommand(1, 5.0) in sent[-3:]  # B with 5 %: matching afresh
        c.evses[1].measurement = _measure("B")
        await _wait(lambda: iso.link_up)  # our EV matched again: a new data link
        assert part.coord.phase is Phase.ISO and not c.evses[1].gate
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


def test_a_new_hal_gets_no_power_on_from_an_old_session_gate() -> None:
    # The link back before the coordinator saw it go: the controller itself sends no
    # power-on from the old session's gate (ISO 15118-20: power after PowerDelivery only).
    c, sent = _controller(_data("dc", {"interface": "sim", "sim_ev": True}))
    c.evses[1].gate = True
    c.hal.connects = 1
    c._on_connect(Welcome(1, [], []))
    assert AllowPowerOn(1, True, "controller (re)connected") in sent  # the first connect
    c.hal.connects, before = 2, len(sent)
    c._on_connect(Welcome(1, [], []))
    allows = [m for m in sent[before:] if isinstance(m, AllowPowerOn)]
    assert allows == [AllowPowerOn(1, False, "controller (re)connected")]


def test_no_ev_answering_falls_back_to_basic_with_the_annex_a_duty_iec61851_1() -> None:
    slac = {"interface": "sim", "retries": 0, "init_timeout_s": 20.0, "match_timeout_s": 20.0}
    c, sent = _controller(_data("ac", slac))
    assert c.cfg.slac is not None
    part = CoordinatorPart(c, c.cfg.slac, None)
    c._sent_request[1] = PowerRequest(1, "setpoint", 11040.0, 0.0, 11040.0)  # 16 A x 3
    now = [0.0]
    part._clock = lambda: now[0]  # fake clock: the 20 s pass at once

    async def scenario() -> None:
        task = asyncio.create_task(part.run())
        c.evses[1].measurement = _measure("B")
        await _wait(lambda: part.coord.phase is Phase.MATCHING)
        now[0] = 25.0
        await _wait(lambda: part.coord.phase is Phase.BASIC)
        assert PilotCommand(1, 26.67) in sent and c.evses[1].session == "basic"
        c.evses[1].measurement = _measure("C")
        await _wait(lambda: c.evses[1].gate)
        assert sent[-1] == AllowPowerOn(1, True, "basic charging")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert sent[-1] == AllowPowerOn(1, False, "coordinator stopped")

    asyncio.run(scenario())


def test_basic_only_station_starts_with_x1_not_the_config_duty_iec61851_1() -> None:
    slac = {"enable": False, "basic_fallback": True}
    c, sent = _controller(_data("ac", slac, iso=False))
    assert c.cfg.slac is not None
    part = CoordinatorPart(c, c.cfg.slac, None)

    async def scenario() -> None:
        task = asyncio.create_task(part.run())
        await _wait(lambda: PilotCommand(1, 100.0) in sent)  # X1 until an EV is there
        c._sent_request[1] = PowerRequest(1, "setpoint", 4140.0, 0.0, 4140.0)  # 6 A x 3
        c.evses[1].measurement = _measure("C")
        await _wait(lambda: c.evses[1].gate)
        assert PilotCommand(1, 10.0) in sent  # 6 A: 10 %
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


@pytest.mark.parametrize("hal_follows", [True, False])
def test_cm_validate_counts_the_cars_toggles_from_hals_pilot_iso15118_3(hal_follows: bool) -> None:
    # [slac] validate = true: the EVSE counts the B -> C toggles it sees in hal's pilot
    # state. hal's simulated pilot cannot follow the simulated car yet (branch simchain), so
    # this test plays that part: it copies the car's pilot into the measurement.
    c, _ = _controller(_data("ac", {"interface": "sim", "sim_ev": True, "validate": True}))
    assert c.cfg.slac is not None and c.cfg.slac.validate
    part = CoordinatorPart(c, c.cfg.slac, None, sim_ev=EvSlacConfig(validate_toggles=2))

    async def fake_hal_pilot() -> None:
        while True:
            c.evses[1].measurement = _measure(part.ev_pilot if hal_follows else "B")
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        task = asyncio.create_task(part.run())
        pilot = asyncio.create_task(fake_hal_pilot())
        await _wait(lambda: part.ev is not None and part.ev.machine.state in (
            EvState.LINKED, EvState.FAILED))
        assert part.ev is not None and part.slac is not None
        if hal_follows:
            assert part.ev.machine.state is EvState.LINKED, part.ev.machine.failure
            await _wait(lambda: part.coord.phase is Phase.ISO)
        else:  # no toggle reached the EVSE: 0 counted, the car does not match
            assert part.ev.machine.failure == "CM_VALIDATE: the EVSE counted 0 toggles, we made 2"
            assert part.slac.machine.matched_ev is None
        for t in (task, pilot):
            t.cancel()
        await asyncio.gather(task, pilot, return_exceptions=True)

    asyncio.run(scenario())
