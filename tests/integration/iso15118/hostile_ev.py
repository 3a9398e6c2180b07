"""Our EV (evse/sim/ev) as a hostile car: N full -20 sessions (AC_BPT, Dynamic, through
the energy phase), each with one message spoiled (bit-flipped EXI or V2GTP header, cut
mid-message, or sent twice), then one clean session. One JSON line per session.

    python hostile_ev.py IFACE N
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sys
import time
from typing import Any

from evse.iso15118 import v2gtp
from evse.iso15118.exi.errors import ExiError
from evse.sim.ev import client, sdp_client
from evse.sim.ev.battery import Battery
from evse.sim.ev.config import load
from evse.sim.ev.evcc import Evcc, Send

EV = {"service": "AC_BPT", "control_mode": "Dynamic", "stop_at_s": 1.0,
      "loop_interval_s": 0.05, "departure_s": 3600}
MESSAGES = 18  # a session here sends more (the ChargeLoop from index 10); one is spoiled


class SpoilingLink(client.V2gLink):
    def __init__(self, reader: Any, writer: Any, index: int | None, op: str, seed: int) -> None:
        super().__init__(reader, writer)
        self.index, self.op, self.rng, self.sent = index, op, random.Random(seed), 0

    async def send(self, step: Send) -> None:
        codec = self.codecs[step.namespace]
        buf = bytearray(v2gtp.pack(codec.namespace.payload_type,
                                   codec.encode_message(step.name, step.message)))
        if self.sent == self.index:
            if self.op in ("flip", "header"):
                lo = 0 if self.op == "header" else 8  # header: the 8 V2GTP bytes
                hi = 8 if self.op == "header" else len(buf)
                for _ in range(self.rng.randint(1, 4)):
                    bit = self.rng.randrange(lo * 8, hi * 8)
                    buf[bit // 8] ^= 0x80 >> (bit % 8)
            elif self.op == "cut":
                buf = buf[: self.rng.randrange(1, len(buf))]
            elif self.op == "repeat":
                buf = buf * 2
        self.sent += 1
        self.writer.write(bytes(buf))
        await self.writer.drain()


async def session(iface: str, index: int | None, op: str, seed: int) -> dict[str, Any]:
    cfg = load(dict(EV))
    t0 = time.monotonic()
    answer = await sdp_client.discover(iface, False, cfg.sdp_tries)
    reader, writer = await asyncio.open_connection(f"{answer.address}%{iface}", answer.port)
    link = SpoilingLink(reader, writer, index, op, seed)
    machine = Evcc(cfg, Battery(cfg.capacity_wh, cfg.soc_start), t0, None, False)
    step: Any = machine.start(time.monotonic())
    try:
        while isinstance(step, Send):
            if step.delay_s > 0:
                await asyncio.sleep(step.delay_s)
            await link.send(step)
            try:
                name, msg = await asyncio.wait_for(link.receive(), step.timeout_s)
            except TimeoutError:
                step = machine.on_timeout(time.monotonic())
                break
            step = machine.on_response(name, msg, time.monotonic(), int(time.time()))
    except (ConnectionError, OSError, ExiError) as e:
        return {"index": index, "op": op, "outcome": "failed", "reason": repr(e),
                "sent": machine.sent}
    finally:
        await link.close()
    return {"index": index, "op": op, "outcome": step.outcome, "reason": step.reason,
            "sent": machine.sent}


async def main(iface: str, n: int) -> None:
    ops = ("flip", "header", "cut", "repeat")
    for i in range(n):
        rng = random.Random(i)
        res = await session(iface, rng.randrange(MESSAGES), ops[i % len(ops)], i)
        print(json.dumps(res), flush=True)
        await asyncio.sleep(0.1)
    print(json.dumps({"clean": True, **await session(iface, None, "", 0)}), flush=True)


if __name__ == "__main__":
    socket.if_nametoindex(sys.argv[1])  # a clear error for a wrong interface
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
