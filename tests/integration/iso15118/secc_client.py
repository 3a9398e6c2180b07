"""A scripted -20 car for the SECC tests, run inside the test's network namespace:
SDP on the interface, then TCP or TLS 1.3 to the address SDP gave, then encoded -20
requests from SupportedAppProtocol to ServiceSelection and SessionStop. Prints one JSON
line per step (what it sent, what came back) so the test can assert on it.

    python secc_client.py IFACE {tcp|tls} [--ca PEM] [--cert PEM --key PEM]
        [--steps full|pause|resume:HEXID|garbage] [--hold S]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import ssl
import struct
import sys
import time
from typing import Any

from evse.iso15118 import v2gtp
from evse.iso15118.exi import Codec, find_namespace
from evse.iso15118.exi._generated import app_types as app
from evse.iso15118.exi._generated import common_types as cm
from evse.iso15118.exi._generated.shared_types import MessageHeaderType

WAIT_S = 20.0
CODECS = {ns: Codec.for_namespace(ns) for ns in ("app", "common", "ac", "dc")}


def out(**kw: Any) -> None:
    print(json.dumps(kw), flush=True)


def sdp(iface: str, security: int) -> tuple[str, int, int]:
    ifindex = socket.if_nametoindex(iface)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    sock.settimeout(0.25)  # -2: 250 ms per try
    req = v2gtp.pack(v2gtp.SDP_REQ, bytes([security, 0x00]))
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        sock.sendto(req, ("ff02::1", 15118, 0, ifindex))
        try:
            data, _ = sock.recvfrom(64)
        except TimeoutError:
            continue
        msg = v2gtp.unpack(data)
        assert isinstance(msg, v2gtp.V2gtpMessage) and msg.payload_type == v2gtp.SDP_RES
        addr = socket.inet_ntop(socket.AF_INET6, msg.payload[:16])
        port, sec, transport = struct.unpack(">HBB", msg.payload[16:])
        out(step="sdp", address=addr, port=port, security=sec, transport=transport)
        return addr, port, sec
    raise SystemExit("no SDP answer")


class Car:
    def __init__(self, sock: socket.socket, mutation: tuple[int, str, int] | None = None) -> None:
        self.sock = sock
        self.sid = b"\x00" * 8
        self.sent = 0
        self.mutation = mutation  # (message index, operation, seed): one message spoiled

    def _spoil(self, data: bytes) -> bytes:
        """The fuzz modes: a bit-flipped EXI or header, a cut, a repeat."""
        assert self.mutation is not None
        _, op, seed = self.mutation
        rng = random.Random(seed)
        buf = bytearray(data)
        if op == "flip":
            for _ in range(rng.randint(1, 4)):
                bit = rng.randrange(len(buf) * 8)
                buf[bit // 8] ^= 0x80 >> (bit % 8)
        elif op == "cut":
            self.sock.sendall(bytes(buf[: rng.randrange(1, len(buf))]))
            self.sock.shutdown(socket.SHUT_WR)  # the car goes silent mid-message
            return b""
        elif op == "repeat":
            return bytes(buf) * 2
        return bytes(buf)

    def hdr(self) -> MessageHeaderType:
        return MessageHeaderType(SessionID=self.sid, TimeStamp=int(time.time()))

    def send(self, name: str, msg: Any, ns: str = "common") -> Any:
        codec = CODECS[ns]
        data = v2gtp.pack(codec.namespace.payload_type, codec.encode_message(name, msg))
        if self.mutation is not None and self.sent == self.mutation[0]:
            data = self._spoil(data)
        self.sent += 1
        if data:
            self.sock.sendall(data)
        return self.recv(name)

    def send_raw(self, data: bytes, label: str) -> Any:
        self.sock.sendall(data)
        return self.recv(label)

    def recv(self, sent: str) -> Any:
        framer = v2gtp.Framer()
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (OSError, ssl.SSLError) as exc:  # reset, or silence (a spoiled length)
                out(step=sent, closed=True, error=repr(exc))
                return None
            if not chunk:
                out(step=sent, closed=True)
                return None
            for item in framer.feed(chunk):
                assert isinstance(item, v2gtp.V2gtpMessage), item
                ns = find_namespace(item.payload_type).short
                name, res = CODECS[ns].decode_message(item.payload)
                code = getattr(res, "ResponseCode", None)
                extra: dict[str, Any] = {}
                if name == "SessionSetupRes":
                    self.sid = res.Header.SessionID
                    extra["session_id"] = self.sid.hex()
                if name == "AuthorizationRes":
                    extra["processing"] = res.EVSEProcessing
                if name == "ServiceDiscoveryRes":
                    extra["services"] = [s.ServiceID for s in res.EnergyTransferServiceList.Service]
                if name == "ServiceDetailRes":
                    extra["sets"] = [
                        p.ParameterSetID for p in res.ServiceParameterList.ParameterSet
                    ]
                out(step=sent, response=name, code=code, **extra)
                return res


def run(car: Car, steps: str) -> None:
    sap = app.supportedAppProtocolReqType(
        AppProtocol=[
            app.AppProtocolType(
                ProtocolNamespace=f"urn:iso:std:iso:15118:-20:{kind}",
                VersionNumberMajor=1,
                VersionNumberMinor=0,
                SchemaID=schema,
                Priority=schema,
            )
            for kind, schema in (("AC", 1), ("DC", 2))
        ]
    )
    if steps == "garbage":
        car.send_raw(v2gtp.pack(v2gtp.SAP, b"\x80\xff\xff\x13\x37"), "garbage")
        return
    if car.send("supportedAppProtocolReq", sap, "app") is None:
        return
    if steps.startswith("resume:"):
        car.sid = bytes.fromhex(steps.split(":", 1)[1])
    car.send("SessionSetupReq", cm.SessionSetupReqType(Header=car.hdr(), EVCCID="WMIV1234567890"))
    if steps.startswith("resume:"):
        car.send(
            "SessionStopReq", cm.SessionStopReqType(Header=car.hdr(), ChargingSession="Terminate")
        )
        return
    if car.send("AuthorizationSetupReq", cm.AuthorizationSetupReqType(Header=car.hdr())) is None:
        return
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        res = car.send(
            "AuthorizationReq",
            cm.AuthorizationReqType(
                Header=car.hdr(),
                SelectedAuthorizationService="EIM",
                EIM_AReqAuthorizationMode=cm.EIM_AReqAuthorizationModeType(),
            ),
        )
        if res is None:
            return
        if res.EVSEProcessing == "Finished":
            break
        time.sleep(0.1)
    res = car.send("ServiceDiscoveryReq", cm.ServiceDiscoveryReqType(Header=car.hdr()))
    if res is None or res.ResponseCode != "OK":
        return
    sid = res.EnergyTransferServiceList.Service[-1].ServiceID
    res = car.send("ServiceDetailReq", cm.ServiceDetailReqType(Header=car.hdr(), ServiceID=sid))
    if res is None or res.ResponseCode != "OK":
        return
    res = car.send(
        "ServiceSelectionReq",
        cm.ServiceSelectionReqType(
            Header=car.hdr(),
            SelectedEnergyTransferService=cm.SelectedServiceType(ServiceID=sid, ParameterSetID=2),
        ),
    )
    if res is None or res.ResponseCode != "OK":
        return
    kind = "Pause" if steps == "pause" else "Terminate"
    car.send("SessionStopReq", cm.SessionStopReqType(Header=car.hdr(), ChargingSession=kind))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("iface")
    p.add_argument("mode", choices=["tcp", "tls"])
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--steps", default="full")
    p.add_argument("--hold", type=float, default=0.0, help="stay connected this long first")
    p.add_argument("--fuzz", type=int, default=0, help="this many spoiled sessions first")
    a = p.parse_args()
    addr, port, sec = sdp(a.iface, 0x00 if a.mode == "tls" else 0x10)
    rng = random.Random(15118)
    for i in range(a.fuzz):  # plain TCP: each a fresh connection with one message spoiled
        raw = socket.create_connection((f"{addr}%{a.iface}", port), timeout=WAIT_S)
        raw.settimeout(2.0)  # a spoiled length leaves the SECC waiting for bytes: hang up
        mutation = (rng.randrange(8), rng.choice(["flip", "cut", "repeat"]), i)
        out(step="fuzz", index=mutation[0], op=mutation[1], seed=i)
        try:
            run(Car(raw, mutation), "full")
        except (ConnectionError, AssertionError, ValueError, AttributeError) as exc:
            out(step="fuzz", closed=True, error=repr(exc))
        raw.close()
    if a.fuzz:
        out(step="clean")  # what follows is an unspoiled session
    raw = socket.create_connection((f"{addr}%{a.iface}", port), timeout=WAIT_S)
    sock: socket.socket = raw
    if sec == 0x00:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.load_verify_locations(a.ca)
        if a.cert:
            ctx.load_cert_chain(a.cert, a.key)
        try:
            sock = ctx.wrap_socket(raw)
        except (ssl.SSLError, OSError) as exc:
            out(step="tls", closed=True, error=str(exc))
            return
        out(step="tls", cipher=sock.cipher()[0], version=sock.version())  # type: ignore[attr-defined]
    out(step="connected")
    if a.hold:
        time.sleep(a.hold)
    run(Car(sock), a.steps)
    sock.close()


if __name__ == "__main__":
    sys.exit(main())
