"""Directive persistence against real failing storage (docs/hal-contract.md, Persistence):
the disk is never in the socket read path, a storage failure is answered with a
rejection that says so, and what runs is always what a restart restores."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hal import protocol as p
from tests.conftest import Client, HalProcess, controller, sim_config

OBSERVER = p.ROLE_OBSERVER

SET_A = [
    {
        "id": "lmd-a",
        "controlType": "LimitMaxDischarge",
        "isDefault": True,
        "limitMaxDischarge": {"priority": 0, "pctMaxDischargePower": 50.0},
    }
]
SET_B = [
    {
        "id": "lmd-b",
        "controlType": "LimitMaxDischarge",
        "isDefault": True,
        "limitMaxDischarge": {"priority": 0, "pctMaxDischargePower": 20.0},
    },
    {"id": "broken", "controlType": "NoSuchControl", "isDefault": True},
]


@pytest.fixture
def small_disk(short_tmp: Path) -> Iterator[Path]:
    """The state dir on a 64 KiB tmpfs of its own, so the test can fill it (a read-only
    folder does not stop root; a full file system does)."""
    state = short_tmp / "state"
    state.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {res.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system until the kernel says ENOSPC."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 512)
    finally:
        os.close(fd)
    return filler


def _welcome_ids(hal: HalProcess) -> list[str]:
    obs = Client(hal.socket, role=OBSERVER)
    ids = obs.wait_for(p.Welcome).directive_ids
    obs.close()
    return ids


def test_full_disk_rejects_the_set_keeps_the_old_one_and_the_connection(
    short_tmp: Path, small_disk: Path
) -> None:
    hal = HalProcess(sim_config(short_tmp)).start()
    try:
        c, _ = controller(hal.socket)
        c.send(p.DerDirectives(SET_A))
        assert c.wait_for(p.DirectiveResult).accepted == ["lmd-a"]
        filler = _fill(small_disk)

        c.send(p.DerDirectives(SET_B))
        res = c.wait_for(p.DirectiveResult)
        assert res.accepted == []
        reasons = {r["id"]: r["reason"] for r in res.rejected}
        assert reasons["lmd-b"].startswith("storage_failed: ")
        assert "No space left on device" in reasons["lmd-b"]
        assert "'NoSuchControl' is not a DERControlEnumType" in reasons["broken"]
        # the previous set stays in force, and the connection stays
        assert _welcome_ids(hal) == ["lmd-a"]
        c.send(p.PilotCommand(1, 5.0))
        assert c.wait_for(p.Ack).ref_type == "pilot"
        c.close()
        # what ran is what a restart restores
        hal.stop(signal.SIGKILL)
        hal.start()
        assert _welcome_ids(hal) == ["lmd-a"]
        # room again: the same set is taken
        filler.unlink()
        c, _ = controller(hal.socket)
        c.send(p.DerDirectives(SET_B))
        res = c.wait_for(p.DirectiveResult)
        assert res.accepted == ["lmd-b"] and [r["id"] for r in res.rejected] == ["broken"]
        c.close()
        hal.stop(signal.SIGKILL)
        hal.start()
        assert _welcome_ids(hal) == ["lmd-b"]
    finally:
        if hal.alive():
            hal.stop(signal.SIGKILL)


def test_a_hung_disk_does_not_stall_the_contract_or_the_loop(short_tmp: Path) -> None:
    """The temp file is a FIFO nobody reads: opening it for writing blocks, as a hung
    disk does. hal keeps answering and reporting meanwhile; the set is answered once
    the write ends (fsync on a FIFO fails: a storage rejection)."""
    state = short_tmp / "state"
    state.mkdir()
    fifo = state / "der-directives.cbor.tmp"
    os.mkfifo(fifo)
    hal = HalProcess(sim_config(short_tmp)).start()
    reader = -1
    try:
        c, _ = controller(hal.socket)
        obs = Client(hal.socket, role=OBSERVER)
        obs.wait_for(p.Welcome)
        c.send(p.DerDirectives(SET_A))
        c.send(p.PilotCommand(1, 5.0))
        assert c.wait_for(p.Ack).ref_type == "pilot"  # answered while the write hangs
        first = obs.wait_for(p.Measurement)
        for _ in range(20):  # and the sample loop keeps reporting
            last = obs.wait_for(p.Measurement)
        assert last is not first
        assert not any(isinstance(m, p.DirectiveResult) for m in c.buffer)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the disk comes back
        res = c.wait_for(p.DirectiveResult)
        assert res.accepted == []
        assert res.rejected[0]["id"] == "lmd-a"
        assert res.rejected[0]["reason"].startswith("storage_failed: ")
        assert _welcome_ids(hal) == []  # not stored, so not in force
        c.close()
        obs.close()
    finally:
        if reader < 0:  # unblock hal's writer thread so the process can go
            with contextlib.suppress(OSError):
                reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        hal.stop(signal.SIGKILL)
        if reader >= 0:
            os.close(reader)
