"""The local MQTT API against real brokers (issue 14): mosquitto as a child process on a
free loopback port, amqtt in process; hal as a real process on simulated hardware, the
controller in this loop. Status topics appear and update; a Q05 setpoint command moves
the simulated power stage through hal and falls back when it expires; bad input gets an
error reply and changes nothing; the broker restarting or absent at start never stops
the station; the last will says offline."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from evse.config import StationConfig
from evse.controller import Controller
from evse.energy.period_source import PeriodSource
from evse.energy.types import SchedulePeriod
from hal import protocol as p
from tests.conftest import WAIT_S, Client, HalProcess
from tests.integration.api.mqtt_rig import Mosquitto, Watcher, broker, free_port, station_config
from tests.integration.test_evse_restart import observer


async def hal_setpoint(obs: Client, watts: float) -> p.Measurement:
    return await asyncio.to_thread(
        obs.wait_for, p.Measurement, WAIT_S, lambda m: abs(m.setpoint_w - watts) < 1.0
    )


def with_station(
    cfg: StationConfig, body: Callable[[Controller, Client], Awaitable[None]],
    periods: PeriodSource | None = None,
) -> None:
    """hal as a process, the controller in this loop, a hal observer; `body` runs the test."""
    hal = HalProcess(cfg.path).start()

    async def scenario() -> None:
        ctrl = Controller(cfg, period_source=periods)
        stop = asyncio.Event()
        run = asyncio.create_task(ctrl.run(stop))
        obs = observer(hal)
        try:
            await body(ctrl, obs)
        finally:
            obs.close()
            stop.set()
            await asyncio.wait_for(run, WAIT_S)
        assert ctrl.failed is None

    try:
        asyncio.run(scenario())
    finally:
        hal.stop()


@pytest.mark.parametrize(("kind", "protocol"), [("mosquitto", "5"), ("amqtt", "3.1.1")])
def test_q05_status_appears_setpoint_moves_hal_and_expires_bad_input_changes_nothing(
    short_tmp: Path, kind: str, protocol: str
) -> None:
    port = free_port()
    cfg = station_config(short_tmp, port, f'protocol = "{protocol}"\n'
                         'local_mode = "ExternalSetpoint"\n')

    async def body(ctrl: Controller, obs: Client) -> None:
        async with broker(kind, short_tmp, port), Watcher(port, protocol) as w:
            await w.until(lambda: w.last.get("test/evse/online") == b"online", "online")
            await w.until(lambda: (w.status(1) or {}).get("pilot") == "C", "EVSE status")
            st, ev = w.status(), w.status(1)
            assert st is not None and st["ocpp"] == "none" and st["evses"] == [1]
            assert ev is not None and ev["operation_mode"] == "ExternalSetpoint"
            assert ev["mode_source"] == "local" and ev["grid"]["state"] is not None
            n = w.count["test/evse/evse/1/status"]
            # Q05: the EMS's setpoint reaches hal's power stage ...
            r = await w.command(1, "setpoint", {"w": 4000, "expires_in_s": 6}, "sp1")
            assert r == {"id": "sp1", "command": "setpoint", "ok": True, "expires_in_s": 6}
            await hal_setpoint(obs, 4000.0)
            await w.until(lambda: abs((w.status(1) or {}).get("active_w", 0) - 4000) < 300,
                          "status follows the power")
            assert w.count["test/evse/evse/1/status"] > n  # updated, not only once
            # ... bad input is answered and changes nothing ...
            bad = {
                "b1": ("setpoint", {"w": 40000, "expires_in_s": 5}, "out_of_range"),
                "b2": ("setpoint", {"w": "3000", "expires_in_s": 5}, "wrong_type"),
                "b3": ("setpoint", {"w": 3000, "expires_in_s": 0}, "expired"),
                "b4": ("setpoint", {"w": 3000, "expires_in_s": 5, "pad": "x" * 5000},
                       "too_large"),
                "b5": ("limits", {"max_charge_w": 1000, "max_discharge_w": 0,
                                  "expires_in_s": 5}, "not_allowed"),
            }
            for corr, (name, doc, code) in bad.items():
                r = await w.command(1, name, doc, corr, unreadable=code == "too_large")
                assert r["ok"] is False and r["error"] == code, r
            r = await w.command(7, "setpoint", {"w": 1000, "expires_in_s": 5}, "b6")
            assert r["error"] == "unknown_evse"
            assert ctrl._sent_request[1].setpoint_w == 4000.0
            # ... and without a fresh command the setpoint expires: back to the next
            # source (here the period's own, none: 0 W), as if the EMS had gone.
            await hal_setpoint(obs, 0.0)
            await w.until(lambda: (w.status(1) or {}).get("ems", 1) is None, "ems gone")

    with_station(cfg, body)


def test_q06_limits_bound_the_power_until_they_expire_and_ha_discovery(short_tmp: Path) -> None:
    port = free_port()
    cfg = station_config(short_tmp, port, 'local_mode = "ExternalLimits"\n'
                         'ha_discovery = true\nha_prefix = "test/evse/ha"\n')
    number = "test/evse/ha/number/evse-test/evse1_setpoint/config"

    async def body(ctrl: Controller, obs: Client) -> None:
        async with broker("mosquitto", short_tmp, port), Watcher(port) as w:
            await hal_setpoint(obs, 11000.0)  # no EMS input: the unit's range
            # Home Assistant discovery (on here; off by default) points at our topics
            await w.until(lambda: number in w.last, "Home Assistant discovery")
            assert b'"command_topic":"test/evse/evse/1/set/setpoint"' in w.last[number]
            doc = {"max_charge_w": 2500, "max_discharge_w": 0, "expires_in_s": 5}
            assert (await w.command(1, "limits", doc, "l1"))["ok"]
            await hal_setpoint(obs, 2500.0)
            await hal_setpoint(obs, 11000.0)  # expired

    with_station(cfg, body)


def test_broker_restart_and_absent_at_start_never_stop_the_station_enable_and_free_vend(
    short_tmp: Path,
) -> None:
    port = free_port()  # nothing listens there yet
    cfg = station_config(short_tmp, port, request_w=6000.0)

    async def body(ctrl: Controller, obs: Client) -> None:
        await hal_setpoint(obs, 6000.0)  # the station runs without its broker
        assert ctrl.api is not None and not ctrl.api.connected
        m = Mosquitto(short_tmp, port).start()
        try:
            async with Watcher(port) as w:
                await w.until(lambda: w.status(1) is not None, "status after the broker came")
                m.stop()
                await w.until(lambda: w.client is None, "watcher saw the broker go")
                await asyncio.to_thread(  # still charging, still keeping hal alive
                    obs.wait_for, p.Measurement, WAIT_S, lambda x: x.contactor_closed)
                w.last.clear()
                m.start()
                await w.until(lambda: w.last.get("test/evse/online") == b"online", "online")
                await w.until(lambda: w.status(1) is not None, "status again after restart")
                r = await w.command(1, "enable", {"enabled": False}, "e1")
                assert r["ok"]
                await w.until(lambda: (w.status(1) or {}).get("enabled") is False, "disabled")
                await hal_setpoint(obs, 0.0)
                # free vend: enabled again, then stopped and started from the EMS
                assert (await w.command(1, "enable", {"enabled": True}, "e2"))["ok"]
                assert (await w.command(1, "charge", {"allowed": False}, "c1"))["ok"]
                await asyncio.to_thread(obs.wait_for, p.Measurement, WAIT_S,
                                        lambda x: not x.contactor_closed)
                assert (await w.command(1, "charge", {"allowed": True}, "c2"))["ok"]
                await asyncio.to_thread(obs.wait_for, p.Measurement, WAIT_S,
                                        lambda x: x.contactor_closed and x.setpoint_w > 5000)
            assert ctrl.api.connects >= 2
        finally:
            m.stop()
        assert not any(isinstance(x, p.Event) and x.kind == "keepalive_lost"
                       for x in obs.buffer)

    with_station(cfg, body)


def test_last_will_says_offline_when_evse_dies_and_on_a_clean_stop(short_tmp: Path) -> None:
    port = free_port()
    cfg = station_config(short_tmp, port, keepalive_timeout_s=3.0)
    hal = HalProcess(cfg.path).start()

    async def evse_run() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "evse.cli", "run", "--config", str(cfg.path),
            stderr=(short_tmp / "evse.log").open("ab"),
        )

    async def scenario() -> None:
        async with broker("mosquitto", short_tmp, port), Watcher(port) as w:
            for sig in (signal.SIGKILL, signal.SIGTERM):
                proc = await evse_run()
                try:
                    await w.until(lambda: w.last.get("test/evse/online") == b"online", "online")
                    proc.send_signal(sig)
                    await w.until(lambda: w.last.get("test/evse/online") == b"offline",
                                  f"offline after signal {sig}")
                finally:
                    if proc.returncode is None:
                        proc.kill()
                    await proc.wait()

    try:
        asyncio.run(scenario())
    finally:
        hal.stop()


class Periods:
    """The CSMS's side (its smart-charging block answers the period in force), changed
    by the test as SetChargingProfile would."""

    def __init__(self, period: SchedulePeriod) -> None:
        self.period = period

    def current_period(self, evse_id: int) -> SchedulePeriod | None:
        return self.period


def test_q05_the_csms_mode_decides_whether_the_ems_may_steer(short_tmp: Path) -> None:
    """Under a CSMS profile: the EMS's setpoint is accepted and followed while the period
    is ExternalSetpoint (within its limit); once the CSMS switches to CentralSetpoint the
    CSMS's setpoint is followed and a new EMS setpoint is refused, saying why."""
    port = free_port()
    cfg = station_config(short_tmp, port)
    periods = Periods({"chargingRateUnit": "W", "operationMode": "ExternalSetpoint",
                       "limit": 5000.0})

    async def body(ctrl: Controller, obs: Client) -> None:
        async with broker("amqtt", short_tmp, port), Watcher(port) as w:
            await w.until(lambda: (w.status(1) or {}).get("mode_source") == "csms", "status")
            r = await w.command(1, "setpoint", {"w": 8000, "expires_in_s": 60}, "s1")
            assert r["ok"]
            await hal_setpoint(obs, 5000.0)  # the CSMS's limit bounds the EMS (Q05)
            periods.period = {"chargingRateUnit": "W", "operationMode": "CentralSetpoint",
                              "setpoint": 2000.0}
            await hal_setpoint(obs, 2000.0)
            await w.until(lambda: (w.status(1) or {}).get("operation_mode")
                          == "CentralSetpoint", "mode in the status")
            r = await w.command(1, "setpoint", {"w": 3000, "expires_in_s": 60}, "s2")
            assert r["error"] == "not_allowed" and "CentralSetpoint" in r["reason"]
            assert ctrl._sent_request[1].setpoint_w == 2000.0

    with_station(cfg, body, periods)
