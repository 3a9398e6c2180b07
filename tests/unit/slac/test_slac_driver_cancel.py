"""A SLAC driver that is cancelled as a frame arrives must end (the coordinator's task
group waits for it on every stop and restart). On Python 3.11 `asyncio.wait_for`
swallows a cancel that lands in the same loop turn as the item it waited for."""

from __future__ import annotations

import asyncio

from evse.slac.evse_fsm import EvseSlacConfig, EvseSlacMachine
from evse.slac.link import Deliver
from evse.slac.runner import SlacDriver


class _Link:
    mac = bytes.fromhex("020000000001")

    def __init__(self) -> None:
        self.deliver: Deliver | None = None

    def open(self, deliver: Deliver) -> None:
        self.deliver = deliver

    def send(self, frame: bytes) -> None:
        pass

    def close(self) -> None:
        self.deliver = None


def test_a_driver_cancelled_as_a_frame_arrives_ends() -> None:
    async def main() -> None:
        for _ in range(20):
            link = _Link()
            machine = EvseSlacMachine(link.mac, EvseSlacConfig())
            driver = SlacDriver(machine, link)
            task = asyncio.create_task(driver.run())
            driver.command(machine.start)  # matching: the machine has a deadline now
            for _ in range(3):
                await asyncio.sleep(0)
            assert machine.deadline() is not None
            assert link.deliver is not None
            link.deliver(b"\x00" * 60)  # a foreign frame, ignored by the machine
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=5.0)
            assert task in done, "the cancelled SLAC driver kept running"

    asyncio.run(main())
