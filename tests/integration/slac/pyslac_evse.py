"""pyslac (0.8.3) as the EVSE side, for interop tests and the bench.

    python pyslac_evse.py IFACE COUNT

Sets its key once (pyslac then sleeps its 10 s settle time), prints "ready", then runs
COUNT matchings, printing one JSON line per attempt. pyslac's own controller is not used:
it spawns fire-and-forget tasks and sleeps 2 s in a loop after a match.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from pyslac.enums import STATE_MATCHED, STATE_MATCHING, Timers
from pyslac.environment import Config
from pyslac.session import SlacEvseSession


async def main(iface: str, count: int) -> int:
    logging.disable(logging.CRITICAL)  # pyslac sets DEBUG logging at import
    # Its defaults, without the .env lookup that walks up from the working directory.
    config = Config(slac_init_timeout=Timers.SLAC_INIT_TIMEOUT, log_level=logging.CRITICAL)
    session = SlacEvseSession("EVSE1", iface, config)
    await session.evse_set_key()
    print("ready", flush=True)
    matched = 0
    for _ in range(count):
        await session.evse_slac_parm()
        if session.state == STATE_MATCHING:
            try:
                await session.atten_charac_routine()
            except (TimeoutError, ValueError) as exc:
                print(json.dumps({"state": "failed", "error": str(exc)}), flush=True)
        ok = session.state == STATE_MATCHED
        matched += ok
        print(json.dumps({"state": "matched" if ok else str(session.state)}), flush=True)
        mac = session.evse_mac
        session.reset()  # pyslac's reset() also clears the EVSE's own MAC: put it back
        session.evse_mac = mac
    return 0 if matched == count else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]))))
