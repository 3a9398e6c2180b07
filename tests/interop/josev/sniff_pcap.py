"""A tiny packet capture for tests: every frame on one interface into a pcap file
(Ethernet link type), until SIGTERM. Run inside the namespace of the interface:

    python sniff_pcap.py IFACE OUT.pcap

Prints "capturing" once the socket is bound. (tcpdump is not on these machines; this is
what it would write, minus the filter.)
"""

from __future__ import annotations

import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def main(iface: str, out: str) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    sock.settimeout(0.2)
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        f.flush()
        print("capturing", flush=True)
        while running:
            try:
                frame = sock.recv(65535)
            except TimeoutError:
                continue
            t = time.time()
            sec = int(t)
            f.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame)))
            f.write(frame)
            f.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
