"""The async RPC endpoint over an in-memory pipe: nested CALLs, serialization, timeouts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from evse.ocpp.clock import RealClock, SimClock
from evse.ocpp.endpoint import CallTimeout, ConnectionLost, Handler, OcppCallError, RpcEndpoint
from evse.ocpp.rpc import RpcSession
from evse.ocpp.schemas import OcppVersion, SchemaRegistry


class Closed(Exception):
    pass


class Pipe:
    """One end of an in-memory duplex text pipe; closing ends both directions."""

    def __init__(
        self, inbox: asyncio.Queue[str | None], outbox: asyncio.Queue[str | None], log: list[str]
    ) -> None:
        self.inbox, self.outbox, self.log = inbox, outbox, log

    async def send(self, message: str) -> None:
        self.log.append(message)
        await self.outbox.put(message)

    async def recv(self) -> str:
        item = await self.inbox.get()
        if item is None:
            raise Closed
        return item

    def close(self) -> None:
        self.outbox.put_nowait(None)
        self.inbox.put_nowait(None)


def pair(
    handlers_a: dict[str, Handler],
    handlers_b: dict[str, Handler],
    clock: Any = None,
    timeout: float = 5.0,
) -> tuple[RpcEndpoint, RpcEndpoint, Pipe, list[str]]:
    clock = clock or RealClock()
    q1: asyncio.Queue[str | None] = asyncio.Queue()
    q2: asyncio.Queue[str | None] = asyncio.Queue()
    log_a: list[str] = []
    a_pipe, b_pipe = Pipe(q1, q2, log_a), Pipe(q2, q1, [])
    schemas = SchemaRegistry().for_version(OcppVersion.V21)
    a = RpcEndpoint(RpcSession(schemas, timeout), a_pipe, clock, handlers_a, None, (Closed,))
    b = RpcEndpoint(RpcSession(schemas, timeout), b_pipe, clock, handlers_b, None, (Closed,))
    return a, b, a_pipe, log_a


async def heartbeat(_: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": "2026-01-01T00:00:00Z"}


def test_handler_can_call_the_peer_without_deadlock() -> None:
    async def scenario() -> None:
        holder: list[RpcEndpoint] = []

        async def reset(_: dict[str, Any]) -> dict[str, Any]:
            # While answering B's CALL, A makes its own CALL to B and waits for it.
            answer = await holder[0].call("Heartbeat", {})
            assert "currentTime" in answer
            return {"status": "Accepted"}

        a, b, _, _ = pair({"Reset": reset}, {"Heartbeat": heartbeat})
        holder.append(a)
        async with asyncio.TaskGroup() as tg:
            ta, tb = tg.create_task(a.run()), tg.create_task(b.run())
            result = await asyncio.wait_for(b.call("Reset", {"type": "Immediate"}), 2)
            assert result == {"status": "Accepted"}
            ta.cancel()
            tb.cancel()

    asyncio.run(scenario())


def test_one_outstanding_call_concurrent_callers_are_serialized() -> None:
    async def scenario() -> None:
        seen: list[int] = []
        gate = asyncio.Event()

        async def slow(_: dict[str, Any]) -> dict[str, Any]:
            seen.append(len(seen))
            await gate.wait()
            return {"currentTime": "2026-01-01T00:00:00Z"}

        a, b, _, log_a = pair({}, {"Heartbeat": slow})
        async with asyncio.TaskGroup() as tg:
            ta, tb = tg.create_task(a.run()), tg.create_task(b.run())
            c1 = tg.create_task(a.call("Heartbeat", {}))
            c2 = tg.create_task(a.call("Heartbeat", {}))
            await asyncio.sleep(0.05)
            assert seen == [0]  # the second CALL is not on the wire yet
            assert sum(1 for f in log_a if json.loads(f)[0] == 2) == 1
            gate.set()
            await asyncio.wait_for(asyncio.gather(c1, c2), 2)
            assert seen == [0, 1]
            ta.cancel()
            tb.cancel()

    asyncio.run(scenario())


def test_call_times_out_on_the_injected_clock() -> None:
    async def scenario() -> None:
        clock = SimClock()
        never = asyncio.Event()

        async def hang(_: dict[str, Any]) -> dict[str, Any]:
            await never.wait()
            return {}

        a, b, _, _ = pair({}, {"Heartbeat": hang}, clock=clock, timeout=30.0)
        async with asyncio.TaskGroup() as tg:
            ta, tb = tg.create_task(a.run()), tg.create_task(b.run())
            call = asyncio.ensure_future(a.call("Heartbeat", {}))
            await clock.settle()  # the CALL is on the wire, its timer started
            await clock.advance(29.0)
            assert not call.done()
            await clock.advance(1.5)
            with pytest.raises(CallTimeout):
                await call
            assert a.session.outstanding is None  # the next CALL may go
            ta.cancel()
            tb.cancel()
            never.set()

    asyncio.run(scenario())


def test_handler_errors_become_callerrors_and_unhandled_actions_notsupported() -> None:
    async def scenario() -> None:
        async def refuse(_: dict[str, Any]) -> dict[str, Any]:
            raise OcppCallError("SecurityError", "not allowed")

        async def broken(_: dict[str, Any]) -> dict[str, Any]:
            return {"status": "NotAStatus"}  # invalid response: our bug -> InternalError

        a, b, _, _ = pair({"Reset": refuse, "ClearCache": broken}, {})
        async with asyncio.TaskGroup() as tg:
            ta, tb = tg.create_task(a.run()), tg.create_task(b.run())
            for action, payload, code in [
                ("Reset", {"type": "Immediate"}, "SecurityError"),
                ("ClearCache", {}, "InternalError"),
                ("UnlockConnector", {"evseId": 1, "connectorId": 1}, "NotSupported"),
            ]:
                with pytest.raises(OcppCallError) as exc:
                    await asyncio.wait_for(b.call(action, payload), 2)
                assert exc.value.code == code
            ta.cancel()
            tb.cancel()

    asyncio.run(scenario())


def test_connection_loss_fails_the_outstanding_call() -> None:
    async def scenario() -> None:
        never = asyncio.Event()

        async def hang(_: dict[str, Any]) -> dict[str, Any]:
            await never.wait()
            return {}

        a, b, a_pipe, _ = pair({}, {"Heartbeat": hang})
        results = await asyncio.gather(
            a.run(), b.run(), _close_soon(a, a_pipe), return_exceptions=True
        )
        assert isinstance(results[0], ConnectionLost)
        assert isinstance(results[2], ConnectionLost)

    asyncio.run(scenario())


async def _close_soon(a: RpcEndpoint, pipe: Pipe) -> None:
    call = asyncio.ensure_future(a.call("Heartbeat", {}))
    await asyncio.sleep(0.05)
    pipe.close()
    await call
