"""`evse slac`: commissioning the powerline link.

    evse slac status IFACE            the local modem's link status (VS_PL_LNK_STATUS)
    evse slac match IFACE --ev        run the EV side against a charger, print the outcome
    evse slac match IFACE             run the EVSE side (as if the pilot were in B, 5 %)

Outcomes are printed one JSON object per line. With `--pilot-stdin` the EVSE side reads
pilot states (A, B, C, D, E, F) one per line from stdin: B starts matching, A/E/F end it.
Needs CAP_NET_RAW (an AF_PACKET socket on IFACE).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from evse.slac import frames as f
from evse.slac import messages as m
from evse.slac.ev_fsm import EvSlacConfig
from evse.slac.events import LinkUp, Matched, MatchFailed
from evse.slac.evse_fsm import EvseSlacConfig
from evse.slac.frames import FrameError
from evse.slac.link import Link, RawSocketLink
from evse.slac.runner import Event, EvseSlac, EvSlac, wait_for_event

HELP = "SLAC (ISO 15118-3) commissioning: modem link status, matching as EV or EVSE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="slac_command", required=True, metavar="ACTION")
    status = sub.add_parser("status", help="read the local modem's link status")
    status.add_argument("iface")
    status.add_argument("--timeout", type=float, default=2.0)
    match = sub.add_parser("match", help="run SLAC matching on IFACE")
    match.add_argument("iface")
    match.add_argument("--ev", action="store_true", help="the EV side (default: EVSE side)")
    match.add_argument("--timeout", type=float, default=60.0)
    match.add_argument("--pilot-stdin", action="store_true",
                       help="EVSE side: pilot states from stdin, one per line")
    match.add_argument("--max-attenuation", type=int, default=EvSlacConfig.max_attenuation_db,
                       help="EV side: refuse chargers heard worse than this (dB)")
    match.add_argument("--stay", action="store_true",
                       help="EVSE side: keep running after the link is up")


def run(args: argparse.Namespace) -> int:
    try:
        link = RawSocketLink(args.iface)
    except OSError as exc:
        print(f"evse slac: cannot open {args.iface}: {exc} (needs CAP_NET_RAW)",
              file=sys.stderr)
        return 2
    if args.slac_command == "status":
        return asyncio.run(link_status(link, args.timeout))
    if args.ev:
        config = EvSlacConfig(max_attenuation_db=args.max_attenuation)
        return asyncio.run(match_ev(link, args.timeout, config))
    return asyncio.run(match_evse(link, args.timeout, args.pilot_stdin, args.stay))


def _print(event: Event | dict[str, object]) -> None:
    if isinstance(event, dict):
        print(json.dumps(event), flush=True)
        return
    out: dict[str, object] = {"event": type(event).__name__}
    if isinstance(event, Matched):
        out.update(peer=f.mac_str(event.peer_mac), nid=event.nid.hex())
    reason = getattr(event, "reason", None)
    if reason is not None:
        out["reason"] = reason
    print(json.dumps(out), flush=True)


async def link_status(link: Link, limit_s: float) -> int:
    got: asyncio.Queue[int] = asyncio.Queue()

    def deliver(frame: bytes) -> None:
        try:
            decoded = m.decode_frame(frame)
        except FrameError:
            return
        if decoded is not None and isinstance(decoded.message, m.LinkStatusCnf):
            got.put_nowait(decoded.message.link_status)

    link.open(deliver)
    try:
        link.send(m.encode(m.LinkStatusReq(), f.QCA_LOCAL_MAC, link.mac))
        async with asyncio.timeout(limit_s):
            status = await got.get()
    except TimeoutError:
        _print({"link": None, "error": "no answer from the modem"})
        return 1
    finally:
        link.close()
    _print({"link": bool(status)})
    return 0


async def match_ev(link: Link, limit_s: float, config: EvSlacConfig | None = None) -> int:
    ev = EvSlac(link, config)
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(ev.run())
        ev.start()
        try:
            while True:
                async with asyncio.timeout(limit_s):
                    event = await wait_for_event(ev.events, (Matched, LinkUp))
                _print(event)
                if not isinstance(event, Matched):
                    break
        except TimeoutError:
            event = MatchFailed("timed out")
            _print(event)
        runner.cancel()
    return 0 if isinstance(event, LinkUp) else 1


async def match_evse(link: Link, limit_s: float, pilot_stdin: bool, stay: bool,
                     config: EvseSlacConfig | None = None) -> int:
    evse = EvseSlac(link, config)
    result = 1
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(evse.run())
        if pilot_stdin:
            reader = tg.create_task(_pilot_from_stdin(evse))
        else:
            evse.pilot_b_5_percent()
        try:
            async with asyncio.timeout(None if stay else limit_s):
                while True:
                    event = await evse.events.get()
                    _print(event)
                    if isinstance(event, LinkUp):
                        result = 0
                    if not stay and not pilot_stdin and not isinstance(event, Matched):
                        break
        except TimeoutError:
            _print(MatchFailed("timed out"))
        finally:
            runner.cancel()
            if pilot_stdin:
                reader.cancel()
    return result


async def _pilot_from_stdin(evse: EvseSlac) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        state = line.strip().upper()
        if state == "B":
            evse.pilot_b_5_percent()
        elif state in ("A", "E", "F"):
            evse.pilot_left(state)
