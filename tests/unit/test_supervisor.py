"""evse.supervisor: a failed part is restarted with back-off, is not healthy while it
waits, and takes the process down (failure + on_fatal) when it keeps failing; a failed
one-shot task is fatal at once."""

from __future__ import annotations

import asyncio

from evse.supervisor import RestartPolicy, Supervisor


def _policy(**kw: float) -> RestartPolicy:
    base = {"backoff_start_s": 0.01, "backoff_max_s": 0.02, "max_restarts": 3, "window_s": 60.0}
    base.update(kw)
    return RestartPolicy(**base)  # type: ignore[arg-type]


async def _until(pred: object, seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds):
        while not pred():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.005)


def test_failed_part_is_restarted_and_healthy_again() -> None:
    async def scenario() -> None:
        runs: list[int] = []
        release = asyncio.Event()

        async def part() -> None:
            runs.append(1)
            if len(runs) == 1:
                raise RuntimeError("injected")
            await release.wait()
            await asyncio.Event().wait()

        fatal: list[bool] = []
        sup = Supervisor(_policy(), on_fatal=lambda: fatal.append(True))
        sup.start("p", part)
        await _until(lambda: len(runs) == 2)
        assert sup.restarts("p") == 1
        assert sup.healthy()
        assert fatal == [] and sup.failure is None
        await sup.stop()

    asyncio.run(scenario())


def test_dead_part_is_unhealthy_during_back_off() -> None:
    async def scenario() -> None:
        async def part() -> None:
            raise RuntimeError("injected")

        sup = Supervisor(_policy(backoff_start_s=3600.0, backoff_max_s=3600.0))
        sup.start("p", part)
        await _until(lambda: not sup.alive("p"))
        assert not sup.healthy()  # the watchdog must not be fed now
        assert sup.failure is None  # still hoping for a restart
        await sup.stop()

    asyncio.run(scenario())


def test_part_failing_again_and_again_is_fatal() -> None:
    async def scenario() -> None:
        async def part() -> None:
            raise RuntimeError("injected")

        stop = asyncio.Event()
        sup = Supervisor(_policy(max_restarts=2), on_fatal=stop.set)
        sup.start("p", part)
        await asyncio.wait_for(stop.wait(), 20)
        assert sup.failure is not None and "injected" in sup.failure
        assert sup.restarts("p") == 2
        assert not sup.healthy()
        await sup.stop()

    asyncio.run(scenario())


def test_part_returning_on_its_own_counts_as_failure() -> None:
    async def scenario() -> None:
        async def part() -> None:
            return

        stop = asyncio.Event()
        sup = Supervisor(_policy(max_restarts=0), on_fatal=stop.set)
        sup.start("p", part)
        await asyncio.wait_for(stop.wait(), 20)
        assert sup.failure is not None and "ended on its own" in sup.failure
        await sup.stop()

    asyncio.run(scenario())


def test_failed_one_shot_task_is_fatal_and_stop_cancels_the_rest() -> None:
    async def scenario() -> None:
        async def boom() -> None:
            raise ValueError("injected")

        stop = asyncio.Event()
        sup = Supervisor(_policy(), on_fatal=stop.set)
        sleeper_cancelled = asyncio.Event()

        async def sleeper() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                sleeper_cancelled.set()

        sup.spawn("sleeper", sleeper())
        sup.spawn("boom", boom())
        await asyncio.wait_for(stop.wait(), 20)
        assert sup.failure is not None and "boom" in sup.failure
        await sup.stop()
        assert sleeper_cancelled.is_set()

    asyncio.run(scenario())
