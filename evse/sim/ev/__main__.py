"""`python -m evse.sim.ev --iface IF --config ev.json [--sdp-port N]`: run our EV once,
print the result as one JSON object; exit 0 when the session ended as planned, 1 when it
failed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from evse.sim.ev import client
from evse.sim.ev.config import EvConfigError, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evse.sim.ev", description=__doc__)
    parser.add_argument("--iface", required=True, help="interface with an IPv6 link-local")
    parser.add_argument("--config", required=True, help="JSON object (see evse/sim/ev/config.py)")
    parser.add_argument("--sdp-port", type=int, default=15118,
                        help='the SECC\'s SDP port (another one only with --iface lo)')
    args = parser.parse_args(argv)
    try:
        with open(args.config, encoding="utf-8") as f:
            cfg = load(json.load(f))
    except (OSError, json.JSONDecodeError, EvConfigError) as e:
        print(f"evse.sim.ev: {args.config}: {e}", file=sys.stderr)
        return 2
    result = asyncio.run(client.run(cfg, args.iface, sdp_port=args.sdp_port))
    print(json.dumps(result.to_json()), flush=True)
    return 0 if result.outcome in ("terminated", "paused") else 1


if __name__ == "__main__":
    sys.exit(main())
