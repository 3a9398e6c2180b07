"""A simulated powerline between hosts on real interfaces: one modem per interface.

    python -m evse.slac.plc_sim IFACE [IFACE ...] [--attenuation IFACE:IFACE:DB ...]

Each IFACE is the far end of a veth pair whose other end is a host (an EVSE or an EV,
ours or another implementation). The process plays that host's Qualcomm-like modem
(CM_SET_KEY, link status, CM_ATTEN_PROFILE for each sound heard) and carries frames
between the modems over one simulated segment. Needs CAP_NET_RAW.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from evse.slac import messages as m
from evse.slac.frames import FrameError
from evse.slac.link import RawSocketLink
from evse.slac.modem_sim import PlcSegment, SimModem


def modem_mac(index: int) -> bytes:
    return bytes([0x00, 0xB0, 0x52, 0x5A, 0x00, index + 1])


def _tracer(out: TextIO) -> Callable[[bytes], None]:
    """Logs CM_SLAC_PARM.REQ and CM_SLAC_MATCH.CNF as they leave a host (for the bench)."""

    def trace(frame: bytes) -> None:
        try:
            decoded = m.decode_frame(frame)
        except FrameError:
            return
        if decoded is not None and isinstance(decoded.message, m.SlacParmReq | m.SlacMatchCnf):
            name = type(decoded.message).__name__
            out.write(f"{time.monotonic():.6f} {name} {decoded.message.run_id.hex()}\n")

    return trace


async def serve(ifaces: Sequence[str], attenuation: Sequence[tuple[str, str, int]],
                default_db: int = 20, ready: asyncio.Event | None = None,
                trace_to: TextIO | None = None) -> None:
    segment = PlcSegment(default_db)
    links: dict[int, RawSocketLink] = {}
    modems: dict[str, SimModem] = {}
    trace = None if trace_to is None else _tracer(trace_to)
    try:
        await _run(ifaces, attenuation, segment, links, modems, trace, ready)
    finally:
        _close_all(links)


def _close_all(links: dict[int, RawSocketLink]) -> None:
    for link in links.values():
        link.close()


async def _run(ifaces: Sequence[str], attenuation: Sequence[tuple[str, str, int]],
               segment: PlcSegment, links: dict[int, RawSocketLink],
               modems: dict[str, SimModem], trace: Callable[[bytes], None] | None,
               ready: asyncio.Event | None) -> None:
    for i, name in enumerate(ifaces):
        modem = segment.attach(SimModem(modem_mac(i)))
        modems[name] = modem
        links[id(modem)] = RawSocketLink(name, promiscuous=True)
    for a, b, db in attenuation:
        segment.set_attenuation(modems[a], modems[b], db)

    def carrier(modem: SimModem) -> Callable[[bytes], None]:
        def carry(frame: bytes) -> None:
            if trace is not None:
                trace(frame)
            for dst, out in modem.from_host(frame):
                links[id(dst)].send(out)

        return carry

    for modem in modems.values():
        links[id(modem)].open(carrier(modem))
    if ready is not None:
        ready.set()
    await asyncio.Event().wait()  # until cancelled


def _attenuation(text: str) -> tuple[str, str, int]:
    a, b, db = text.split(":")
    return a, b, int(db)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evse.slac.plc_sim", description=__doc__)
    parser.add_argument("ifaces", nargs="+")
    parser.add_argument("--attenuation", type=_attenuation, action="append", default=[],
                        metavar="IFACE:IFACE:DB")
    parser.add_argument("--default-db", type=int, default=20)
    parser.add_argument("--trace", metavar="FILE", help="log SLAC_PARM.REQ / SLAC_MATCH.CNF")
    args = parser.parse_args(argv)

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        ready = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(serve(args.ifaces, args.attenuation, args.default_db, ready,
                                 trace_file))
            await ready.wait()
            print("plc_sim ready", flush=True)

    with (open(args.trace, "a", buffering=1) if args.trace else contextlib.nullcontext()
          ) as trace_to, contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        trace_file = trace_to
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
