"""hal reads the grid meter (the OCPP 2.1 Q09 input) in a task of its own and reports it
as `grid_meter`; a hung grid meter is a station fault (evse_id 0) reported once, turns
the reading invalid, and never touches the protection path: the EVSE keeps its power."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

from hal import protocol as p
from hal.config import parse_hal
from hal.config_reader import Table
from tests.integration.hal_inproc import CONFIG, Client, charge, start, until, world_evse

SITE = "\n[sim.grid_meter]\nhouse_w = 2500.0\n"


def _reports(client: Client) -> list[p.GridMeterReport]:
    return [m for m in client.messages if isinstance(m, p.GridMeterReport)]


def _station(client: Client, kind: str) -> list[p.Event]:
    return [e for e in client.events(kind) if e.evse_id == 0]


def test_q09_grid_meter_reported_and_its_fault_reported_once_off_the_protection_path(
    short_tmp: Path,
) -> None:
    text = CONFIG.format(dir=short_tmp, timeout=0.3, hal_extra="", more_evses="") + SITE
    cfg = parse_hal(Table(tomllib.loads(text), ""), short_tmp)

    async def scenario() -> None:
        daemon, stop, task, client = await start(cfg)
        try:
            ev = world_evse(daemon)
            await charge(client, ev, 4000.0)
            # The house's 2.5 kW plus the EVSE's 4 kW, imported, per phase and in total.
            await until(
                lambda: any(r.valid and abs(r.total_w - 6500.0) < 50.0 for r in _reports(client)),
                20.0,
                "a valid grid_meter report of house + EVSE",
            )
            r = _reports(client)[-1]
            assert len(r.active_w) == 3 and abs(sum(r.active_w) - r.total_w) < 1e-6
            assert daemon.devices is not None and daemon.devices.world is not None
            world = daemon.devices.world
            world.grid_meter_delay_s = 60.0  # the grid meter hangs
            await until(lambda: bool(_station(client, "fault")), 20.0, "grid meter fault")
            await until(lambda: not _reports(client)[-1].valid, 20.0, "reading invalid")
            n = len(client.messages)
            await until(lambda: len(client.messages) > n + 40, 20.0, "reports go on")
            assert len(_station(client, "fault")) == 1  # once, not per failed read
            fault = _station(client, "fault")[0]
            assert fault.data["device"] == "grid-meter"
            # Never on the protection path: the EVSE kept its power and has no fault.
            assert abs(ev.stage.active_w - 4000.0) < 60.0 and ev.mcu.contactor_closed
            assert not [e for e in client.events("fault") if e.evse_id == 1]
            world.grid_meter_delay_s = 0.0
            await until(lambda: bool(_station(client, "fault_cleared")), 20.0, "cleared")
            await until(lambda: _reports(client)[-1].valid, 20.0, "valid again")
        finally:
            stop.set()
            await asyncio.wait_for(task, 20.0)
            await client.close()
        assert task.result() == 0

    asyncio.run(scenario())
