"""Our SECC (evse/iso15118/secc.py) as a process on the charger end of the veth link,
for Josev's EVCC to charge through. Run with the project's interpreter:

    python our_secc_runner.py [--prices absolute|price_levels] IFACE [TCP_PORT
                              [CERT_CHAIN KEY OEM_ROOTS]]

TCP_PORT 0 (the default) lets the SECC choose; Josev's EVCC accepts only 49152..65535.
With the three PEM paths the SECC serves TLS 1.3 only, on that port, and checks the car's
chain against OEM_ROOTS (mutual authentication). `--prices` adds a price schedule to
Scheduled ScheduleExchangeRes (`[[iso15118]] price_schedule`): 0.30 EUR/kWh, or level 1 of 3.

The station side is a fixed snapshot: authorized, discharge allowed, 7 kW target, the
measurements of a stage that follows it. (The full station, `evse run` with hal on
simulated hardware, is what tests/integration/iso15118 drives; this runner checks the
protocol against an independent EV.) Prints "ready tcp_port=N" once SDP is up and one line per
action; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from pathlib import Path

from evse.iso15118 import secc as our_secc
from evse.iso15118.d20.price_schedule import PriceOffer
from evse.iso15118.d20.types import (
    Action,
    DcState,
    SeccConfig,
    SeccLimits,
    StationView,
)

CONFIG = SeccConfig(evse_id=1, evseid="DE*EVS*E1", services=("AC", "DC", "AC_BPT", "DC_BPT"),
                    control_modes=("Scheduled", "Dynamic"),
                    limits=SeccLimits(11000.0, 11000.0, 16.0, 16.0, min_v=150.0, max_v=500.0))


class FixedStation:
    def view(self) -> StationView:
        return StationView(
            epoch_s=1_800_000_000, authorization="accepted", may_discharge=True,
            target_w=7000.0, min_w=-11000.0, max_w=11000.0, present_w=7000.0,
            present_v=400.0, present_a=17.5, contactor_closed=True,
            dc=DcState(present_v=400.0, present_a=17.5, isolation="valid",
                       precharge_done=True, welding_v=0.0))

    def act(self, actions: tuple[Action, ...]) -> None:
        for action in actions:
            print(f"action {action!r}", flush=True)


PRICES = {"absolute": PriceOffer("absolute", "EUR", "eng", per_kwh=0.30),
          "price_levels": PriceOffer("price_levels", levels=3, level=1)}


async def main(iface: str, tcp_port: int, tls: list[str], prices: str | None) -> None:
    if tls:
        cert, key, roots = (Path(p) for p in tls)
        transport = our_secc.SeccTransportConfig(
            interface=iface, tls="required", tls_port=tcp_port, cert_file=cert, key_file=key,
            oem_roots=roots)
    else:
        transport = our_secc.SeccTransportConfig(interface=iface, tcp_port=tcp_port)
    config = dataclasses.replace(CONFIG, price_offer=PRICES[prices] if prices else None)
    secc = our_secc.Secc(config, transport, FixedStation())
    offer = await secc.start()
    print(f"ready tcp_port={offer.tcp_port} tls_port={offer.tls_port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await secc.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    kind = None
    if args[:1] == ["--prices"]:
        kind, args = args[1], args[2:]
    asyncio.run(main(args[0], int(args[1]) if len(args) > 1 else 0, args[2:5], kind))
