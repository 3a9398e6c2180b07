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
from collections.abc import Callable, Sequence

from evse.slac.link import RawSocketLink
from evse.slac.modem_sim import PlcSegment, SimModem


def modem_mac(index: int) -> bytes:
    return bytes([0x00, 0xB0, 0x52, 0x5A, 0x00, index + 1])


async def serve(ifaces: Sequence[str], attenuation: Sequence[tuple[str, str, int]],
                default_db: int = 20, ready: asyncio.Event | None = None) -> None:
    segment = PlcSegment(default_db)
    links: dict[int, RawSocketLink] = {}
    modems: dict[str, SimModem] = {}
    try:
        for i, name in enumerate(ifaces):
            modem = segment.attach(SimModem(modem_mac(i)))
            modems[name] = modem
            links[id(modem)] = RawSocketLink(name, promiscuous=True)
        for a, b, db in attenuation:
            segment.set_attenuation(modems[a], modems[b], db)

        def carrier(modem: SimModem) -> Callable[[bytes], None]:
            def carry(frame: bytes) -> None:
                for dst, out in modem.from_host(frame):
                    links[id(dst)].send(out)

            return carry

        for modem in modems.values():
            links[id(modem)].open(carrier(modem))
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()  # until cancelled
    finally:
        for link in links.values():
            link.close()


def _attenuation(text: str) -> tuple[str, str, int]:
    a, b, db = text.split(":")
    return a, b, int(db)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evse.slac.plc_sim", description=__doc__)
    parser.add_argument("ifaces", nargs="+")
    parser.add_argument("--attenuation", type=_attenuation, action="append", default=[],
                        metavar="IFACE:IFACE:DB")
    parser.add_argument("--default-db", type=int, default=20)
    args = parser.parse_args(argv)

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        ready = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(serve(args.ifaces, args.attenuation, args.default_db, ready))
            await ready.wait()
            print("plc_sim ready", flush=True)

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
