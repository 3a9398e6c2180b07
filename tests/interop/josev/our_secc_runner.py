"""Our SECC (evse/iso15118/secc.py) as a process on the charger end of the veth link,
for Josev's EVCC to charge through. Run with the project's interpreter:

    python our_secc_runner.py IFACE [TCP_PORT [CERT_CHAIN KEY OEM_ROOTS]]

TCP_PORT 0 (the default) lets the SECC choose; Josev's EVCC accepts only 49152..65535.
With the three PEM paths the SECC serves TLS 1.3 only, on that port, and checks the car's
chain against OEM_ROOTS (mutual authentication).

The station side is a fixed snapshot: authorized, discharge allowed, 7 kW target, the
measurements of a stage that follows it. (The full station, `evse run` with hal on
simulated hardware, is what tests/integration/iso15118 drives; this runner checks the
protocol against an independent EV.) Prints "ready tcp_port=N" once SDP is up and one line per
action; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from evse.iso15118 import secc as our_secc
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


async def main(iface: str, tcp_port: int, tls: list[str]) -> None:
    if tls:
        cert, key, roots = (Path(p) for p in tls)
        transport = our_secc.SeccTransportConfig(
            interface=iface, tls="required", tls_port=tcp_port, cert_file=cert, key_file=key,
            oem_roots=roots)
    else:
        transport = our_secc.SeccTransportConfig(interface=iface, tcp_port=tcp_port)
    secc = our_secc.Secc(CONFIG, transport, FixedStation())
    offer = await secc.start()
    print(f"ready tcp_port={offer.tcp_port} tls_port={offer.tls_port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await secc.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0, sys.argv[3:6]))
