"""`evse csms --script FILE --port N` as a real process, with a station connecting."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

from ocpp_support import PASSWORD, StationSide, config

from evse.ocpp.station import OcppStation
from tests.conftest import WAIT_S

SCRIPT = f"""
versions = ["2.1"]
[passwords]
CS001 = "{PASSWORD}"
[responses.BootNotification]
status = "Accepted"
interval = 120
[[on_connect]]
action = "GetBaseReport"
payload = {{ requestId = 5, reportBase = "ConfigurationInventory" }}
delay = 0.2
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_evse_csms_command_runs_a_script(tmp_path: Path) -> None:
    script = tmp_path / "csms.toml"
    script.write_text(SCRIPT)
    port = free_port()

    async def scenario() -> list[dict[str, object]]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "evse.cli",
            "csms",
            "--script",
            str(script),
            "--port",
            str(port),
            "--duration",
            "4",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), WAIT_S))
        assert first["listening"] == f"127.0.0.1:{port}"
        station = OcppStation(config(port), tmp_path / "evse.db", StationSide())
        task = asyncio.create_task(station.run())
        try:
            await asyncio.wait_for(station.connected.wait(), WAIT_S)
            assert station.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 120
            out, _ = await asyncio.wait_for(proc.communicate(), WAIT_S)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert proc.returncode == 0
        return [json.loads(line) for line in out.decode().splitlines()]

    lines = asyncio.run(scenario())
    frames = [x["frame"] for x in lines if x["dir"] == "in"]
    actions = [f[2] for f in frames if isinstance(f, list) and f[0] == 2]
    assert actions[0] == "BootNotification"
    assert "NotifyReport" in actions
    assert not any(
        isinstance(f, list) and f[0] == 4 for x in lines if x["dir"] == "out" for f in [x["frame"]]
    )


def test_evse_csms_command_rejects_a_bad_script(tmp_path: Path) -> None:
    script = tmp_path / "bad.toml"
    script.write_text('versions = ["1.6"]\n')

    async def scenario() -> tuple[int, bytes]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "evse.cli",
            "csms",
            "--script",
            str(script),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        return proc.returncode or 0, err

    code, err = asyncio.run(scenario())
    assert code == 2 and b"versions" in err
