"""The protection path through the hal daemon on simulated devices with injected hangs
(issue 9): a hung power stage does not keep the grid trip from opening the contactor;
SIGTERM reaches the safe state while the protection push hangs; a task that dies makes
hal go safe and exit non-zero; connector lock, welcome state, RCD self-test and the
MCU's own trip settings are wired."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hal_inproc import charge, config, start, until, world_evse

from hal import protocol as p
from hal.sim.mcu import SimMcu

LMD = {
    "id": "lmd",
    "controlType": "LimitMaxDischarge",
    "isDefault": True,
    "limitMaxDischarge": {"priority": 0, "pctMaxDischargePower": 50.0},
}


def _run(coro_fn: object, **cfg_kw: object) -> None:
    with tempfile.TemporaryDirectory(prefix="evse-") as d:
        cfg = config(Path(d), **cfg_kw)  # type: ignore[arg-type]
        asyncio.run(coro_fn(cfg))  # type: ignore[operator]


def test_hung_stage_does_not_delay_the_overvoltage_trip_vde_ar_n_4105() -> None:
    # U>> 1.25 Un / 0.1 s. The stage hangs at the moment the voltage steps: the trip
    # must still come from the grid engine and open the contactor (through the MCU alone).
    async def scenario(cfg: object) -> None:
        daemon, stop, task, client = await start(cfg)  # type: ignore[arg-type]
        try:
            ev = world_evse(daemon)
            await charge(client, ev, 6000.0)
            assert daemon.devices is not None and daemon.devices.world is not None
            ev.faults.stage_delay_s = 1000.0
            daemon.devices.world.grid.set_override((290.0, 230.0, 230.0), None)
            await until(
                lambda: any(
                    e.data["controlType"] == "HVMustTrip" for e in client.events("der_alarm")
                ),
                20.0,
                "HVMustTrip alarm",
            )
            await until(lambda: not ev.mcu.contactor_closed, 20.0, "contactor open")
            assert "grid trip" in ev.mcu.open_reasons
        finally:
            await client.close()
            stop.set()
            await asyncio.wait_for(task, 30.0)

    _run(scenario)


@pytest.mark.parametrize("hang", ["push", "push_and_stage"])
def test_sigterm_reaches_the_safe_state_while_the_push_hangs(hang: str) -> None:
    # command_timeout_s = 5: a push may take 20 timeouts (100 s). Stopping must not wait
    # for it: power to zero and contactor open first, within hal.stop_safe_s.
    async def scenario(cfg: object) -> None:
        daemon, stop, task, client = await start(cfg)  # type: ignore[arg-type]
        ev = world_evse(daemon)
        try:
            await charge(client, ev, 6000.0)
            ev.faults.push_delay_s = 1000.0
            for u in daemon.units.values():  # new controls in force: a push starts, hangs
                u.engine.set_directives([LMD], daemon.clock())
            await asyncio.sleep(1.5)
            if hang == "push_and_stage":
                ev.faults.stage_delay_s = 1000.0
        finally:
            await client.close()
            stop.set()
        await until(
            lambda: not ev.mcu.contactor_requested and not ev.mcu.contactor_closed,
            20.0,
            "contactor open after stop",
        )
        if hang == "push":
            await until(lambda: ev.stage.setpoint_w == 0.0, 20.0, "stage at 0 W after stop")
        assert await asyncio.wait_for(task, 30.0) == 0

    _run(scenario, timeout=5.0)


def test_a_task_that_dies_makes_hal_go_safe_and_exit_nonzero() -> None:
    async def scenario(cfg: object) -> None:
        daemon, stop, task, client = await start(cfg)  # type: ignore[arg-type]
        ev = world_evse(daemon)
        try:
            await charge(client, ev, 6000.0)

            def broken(*args: object) -> object:
                raise RuntimeError("a bug in the grid engine")

            daemon.units[1].engine.step = broken  # type: ignore[method-assign]
            rc = await asyncio.wait_for(task, 30.0)
        finally:
            await client.close()
            stop.set()
        assert rc == 1
        assert not ev.mcu.contactor_requested and ev.stage.setpoint_w == 0.0

    _run(scenario)


def test_connector_lock_is_acked_when_the_mcu_confirms() -> None:
    # OCPP UnlockConnector -> hal connector_lock -> MCU set_lock.
    async def scenario(cfg: object) -> None:
        daemon, stop, task, client = await start(cfg)  # type: ignore[arg-type]
        try:
            ev = world_evse(daemon)
            client.send(p.ConnectorLock(1, True))
            await until(
                lambda: any(
                    isinstance(m, p.Ack) and m.ref_type == "connector_lock" for m in client.messages
                ),
                20.0,
                "ack",
            )
            assert ev.mcu.locked
            client.send(p.ConnectorLock(1, False))
            await until(lambda: not ev.mcu.locked, 20.0, "unlocked")
        finally:
            await client.close()
            stop.set()
            await asyncio.wait_for(task, 30.0)

    _run(scenario)


def test_welcome_carries_the_state_in_force_and_mcu_trip_settings_are_pushed() -> None:
    async def scenario(cfg: object) -> None:
        daemon, stop, task, client = await start(cfg)  # type: ignore[arg-type]
        try:
            await until(lambda: bool(client.messages), 20.0, "welcome")
            w = client.messages[0]
            assert isinstance(w, p.Welcome)
            (s,) = w.state
            assert s["evse_id"] == 1 and s["faults"] == [] and s["allow"] is False
            assert s["grid"]["state"] == "normal"
            assert daemon.devices is not None
            mcu = daemon.devices.sets[1].mcu
            # the widest must-trip limits in force: 125 % / 45 % of 230 V, 51.5 / 47.5 Hz
            await until(lambda: bool(getattr(mcu, "trip", None)), 20.0, "MCU trip settings")
            trip = mcu.trip  # type: ignore[attr-defined]
            assert trip["v_max"] == pytest.approx(287.5) and trip["v_min"] == pytest.approx(103.5)
            assert (trip["f_min"], trip["f_max"]) == (47.5, 51.5)
            assert trip["t_ms"] == 400  # longest of those clearing times (0.3 s) + 100 ms
        finally:
            await client.close()
            stop.set()
            await asyncio.wait_for(task, 30.0)

    _run(scenario)


def test_rcd_selftest_failing_at_start_is_a_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SimMcu, "rcd_command", lambda self, cmd: None)  # RCD never trips

    async def scenario(cfg: object) -> None:
        _daemon, stop, task, client = await start(cfg)  # type: ignore[arg-type]
        try:
            await until(lambda: bool(client.messages), 20.0, "welcome")
            w = client.messages[0]
            assert isinstance(w, p.Welcome)
            assert w.state[0]["faults"] == [
                {"device": p.FAULT_RCD, "reason": "self-test failed: the RCD did not trip"}
            ]
        finally:
            await client.close()
            stop.set()
            await asyncio.wait_for(task, 30.0)

    _run(scenario)
