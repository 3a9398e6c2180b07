"""Supervision of evse's parts (issue 10 / issue 9: "a part that dies is restarted or
takes the process down; the watchdog is sent only while every part is alive").

The controller runs against a real hal process; a failure is injected into the hal
link's message handler (the translator raises on a measurement), as a bug there would.
A crafted welcome from a contract server stands in for a hal whose handshake evse's
handler cannot take: `evse run` must then exit non-zero for systemd to restart it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
from pathlib import Path

from evse.config import load_station
from evse.controller import Controller
from evse.ocpp.interfaces import StationEvent
from evse.sim.csms import ScriptedCsms
from evse.station.hal_events import HalEventTranslator
from evse.supervisor import RestartPolicy
from hal import protocol as p
from hal.sdnotify import Notifier
from tests.conftest import HalProcess, sim_config

PASSWORD = "0123456789abcdef"


class FaultyTranslator(HalEventTranslator):
    """Raises on measurements while armed (`times` left, -1 = for ever)."""

    times = 0
    raised = 0

    def feed(self, msg: p.Message) -> list[StationEvent]:
        if isinstance(msg, p.Measurement) and self.times != 0:
            self.times -= 1
            self.raised += 1
            raise RuntimeError("injected handler failure")
        return super().feed(msg)


async def _until(pred: object, seconds: float = 30.0) -> None:
    # Polls the controller's state (owned by its tasks in this loop).
    async with asyncio.timeout(seconds):
        while not pred():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def _charging(ctrl: Controller) -> bool:
    m = ctrl.evses[1].measurement if 1 in ctrl.evses else None
    return m is not None and abs(m.active_w - 6000.0) < 100.0


def test_hal_link_handler_exception_restarts_link_and_power_returns(short_tmp: Path) -> None:
    cfg = load_station(sim_config(short_tmp))
    hal = HalProcess(cfg.path).start()

    async def scenario() -> None:
        ctrl = Controller(cfg, 6000.0)
        faulty = FaultyTranslator()
        ctrl._translator = faulty  # the injection point: hal messages pass through it
        stop = asyncio.Event()
        run = asyncio.create_task(ctrl.run(stop))
        try:
            await _until(lambda: _charging(ctrl))
            assert ctrl.hal.connects == 1
            faulty.times = 1
            # The failed link is started again: a new connection, the state re-sent,
            # and hal (which dropped power when evse went away) charges again.
            await _until(lambda: ctrl.hal.connects >= 2)
            ctrl.evses[1].measurement = None
            await _until(lambda: _charging(ctrl))
            assert faulty.raised == 1
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)
        assert ctrl.failed is None

    try:
        asyncio.run(scenario())
    finally:
        hal.stop()


def test_watchdog_withheld_while_the_hal_link_is_dead(short_tmp: Path) -> None:
    cfg = load_station(sim_config(short_tmp))
    hal = HalProcess(cfg.path).start()
    notify = short_tmp / "notify.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(notify))
    srv.settimeout(0.2)
    got: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        # Read at once, as systemd does (a full socket queue would block the sender).
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                got.append(srv.recv(4096))

    reader = threading.Thread(target=read)
    reader.start()

    async def scenario() -> None:
        # WATCHDOG_USEC 200 ms: a ping every 100 ms while healthy.
        notifier = Notifier({"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "200000"})
        ctrl = Controller(cfg, 6000.0, notifier=notifier)
        # A restart far away: the dead part stays dead for the rest of the test.
        ctrl.restart_policy = RestartPolicy(backoff_start_s=3600.0, backoff_max_s=3600.0)
        faulty = FaultyTranslator()
        ctrl._translator = faulty
        stop = asyncio.Event()
        run = asyncio.create_task(ctrl.run(stop))
        try:
            await _until(lambda: _charging(ctrl))
            await _until(lambda: b"WATCHDOG=1" in got)  # fed while all is well
            faulty.times = -1
            await _until(lambda: faulty.raised > 0)
            await asyncio.sleep(0.5)  # a ping already on its way may still land
            mark = len(got)
            await asyncio.sleep(2.0)  # 20 watchdog intervals
            assert b"WATCHDOG=1" not in got[mark:]
        finally:
            stop.set()
            with contextlib.suppress(RuntimeError):  # the old code re-raises the injection
                await asyncio.wait_for(run, 30)

    try:
        asyncio.run(scenario())
    finally:
        done.set()
        reader.join()
        srv.close()
        hal.stop()


def test_evse_run_exits_nonzero_when_the_hal_link_keeps_failing(short_tmp: Path) -> None:
    """A contract server whose welcome lacks the ratings: evse's connect handler fails on
    every connection; the hal link is restarted with back-off, then the process exits 1."""
    cfg = sim_config(short_tmp)
    sock = short_tmp / "hal.sock"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dec = p.FrameDecoder()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                for frame in dec.feed(data):
                    if isinstance(p.decode_message(frame), p.Hello):
                        bad = p.Welcome(p.PROTOCOL_VERSION, [{"evse_id": 1, "kind": "dc"}], [])
                        writer.write(p.encode_message(bad))
        writer.close()

    async def scenario() -> int:
        server = await asyncio.start_unix_server(serve, str(sock))
        evse = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "evse.cli",
            "run",
            "--config",
            str(cfg),
            env=dict(os.environ),
            stderr=(short_tmp / "evse.log").open("wb"),
        )
        try:
            return await asyncio.wait_for(evse.wait(), 90)
        finally:
            if evse.returncode is None:
                evse.kill()
                await evse.wait()
            server.close()
            await server.wait_closed()

    code = asyncio.run(scenario())
    log = (short_tmp / "evse.log").read_text()
    assert code == 1, log
    assert "giving up: part hal-link failed" in log


class BogusEvent:
    """A station event the OCPP side chokes on (a bug's stand-in)."""

    @property
    def evse_id(self) -> int:
        raise RuntimeError("injected station event failure")


class BogusTranslator(HalEventTranslator):
    armed = False

    def feed(self, msg: p.Message) -> list[StationEvent]:
        out = super().feed(msg)
        if self.armed and isinstance(msg, p.Measurement):
            self.armed = False
            return [*out, BogusEvent()]  # type: ignore[list-item]
        return out


def test_ocpp_part_failure_restarts_the_station_and_charging_goes_on(short_tmp: Path) -> None:
    async def scenario() -> None:
        async with ScriptedCsms(passwords={"CS001": PASSWORD}) as csms:
            path = sim_config(short_tmp)
            path.write_text(
                path.read_text()
                + f'id_token = "CARD0001"\nstate_dir = "{short_tmp}/evse"\n\n'
                + f'[ocpp]\ncsms_url = "ws://127.0.0.1:{csms.port}/ocpp"\n'
                + f'station_id = "CS001"\nbasic_auth_password = "{PASSWORD}"\n'
                + '[ocpp.variables]\n"TxCtrlr.TxResumptionTimeout" = 600\n'
            )
            cfg = load_station(path)
            hal = HalProcess(path).start()
            ctrl = Controller(cfg, 6000.0)
            bogus = BogusTranslator()
            ctrl._translator = bogus
            stop = asyncio.Event()
            run = asyncio.create_task(ctrl.run(stop))
            try:
                await csms.wait_until(
                    lambda: any(e["eventType"] == "Started" for e in csms.of("TransactionEvent")),
                    30,
                )
                await _until(lambda: _charging(ctrl))
                bogus.armed = True
                # The station task died; a new one boots and resumes the transaction (E17).
                await csms.wait_until(lambda: len(csms.of("BootNotification")) == 2, 30)
                await csms.wait_until(
                    lambda: any(
                        e["triggerReason"] == "TxResumed" for e in csms.of("TransactionEvent")
                    ),
                    30,
                )
                ctrl.evses[1].measurement = None
                await _until(lambda: _charging(ctrl))
            finally:
                stop.set()
                with contextlib.suppress(RuntimeError):
                    await asyncio.wait_for(run, 30)
                hal.stop()
            assert ctrl.failed is None
            assert not any(e["eventType"] == "Ended" for e in csms.of("TransactionEvent"))

    asyncio.run(scenario())
