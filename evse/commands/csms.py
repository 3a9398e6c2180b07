"""`evse csms`: run a scripted CSMS on a port (for trying a station, and for tests)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tomllib
from pathlib import Path

HELP = "run a scripted OCPP 2.1 / 2.0.1 CSMS (WebSocket server) from a TOML script"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--script", type=Path, help="TOML script (see evse.sim.csms.CsmsScript)")
    parser.add_argument("--port", type=int, default=9000, help="TCP port (default 9000)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: run until interrupted)",
    )


async def _serve(args: argparse.Namespace) -> int:
    from evse.sim.csms import csms_from_script, parse_script

    data = {}
    if args.script is not None:
        try:
            data = tomllib.loads(args.script.read_text(encoding="utf-8"))
            script = parse_script(data)
        except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
            print(f"evse csms: {args.script}: {exc}", file=sys.stderr)
            return 2
    else:
        script = parse_script({})
    csms = csms_from_script(script)
    await csms.start(args.host, args.port)
    print(
        json.dumps({"listening": f"{args.host}:{csms.port}", "versions": list(script.versions)}),
        flush=True,
    )
    printed = 0
    try:
        async with asyncio.timeout(args.duration):
            while True:
                csms.changed.clear()
                for station, direction, text in csms.frames[printed:]:
                    print(
                        json.dumps(
                            {
                                "station": station,
                                "dir": direction,
                                "frame": json.loads(text) if text[:1] == "[" else text,
                            }
                        ),
                        flush=True,
                    )
                printed = len(csms.frames)
                await csms.changed.wait()
    except TimeoutError:
        pass
    finally:
        await csms.stop()
    return 0


def _decoded(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text  # an invalid frame is shown as it came


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
