"""Our EV on a real link: SDP, then TCP or TLS 1.3, V2GTP framing and the EXI codec
around the sans-IO `Evcc`. A paused session is resumed on a new connection with the old
SessionID after `resume_after_s`."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from evse.iso15118 import v2gtp
from evse.iso15118.exi.codec import Codec
from evse.iso15118.exi.errors import ExiError
from evse.sim.ev import sdp_client
from evse.sim.ev.battery import Battery
from evse.sim.ev.config import EvConfig
from evse.sim.ev.evcc import Done, Evcc, LoopRecord, Send

_CODECS = ("app", "common", "ac", "dc")


@dataclass(slots=True)
class EvResult:
    outcome: str
    reason: str
    service: str
    control_mode: str
    sessions: int = 0
    resumed: bool = False
    soc: float = 0.0
    energy_in_wh: float = 0.0
    energy_out_wh: float = 0.0
    evseid: str = ""
    tls_version: str = ""  # e.g. "TLSv1.3"; empty over plain TCP
    sent: list[str] = field(default_factory=list)
    loops: list[LoopRecord] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def tls_context(cfg: EvConfig) -> ssl.SSLContext:
    """TLS 1.3 only (-20); the SECC's chain is checked when roots are configured."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # a link-local peer has no name to check
    if cfg.tls_ca_file:
        ctx.load_verify_locations(cfg.tls_ca_file)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.tls_cert_file:
        password = None
        if cfg.tls_key_password_file:
            with open(cfg.tls_key_password_file, "rb") as f:
                password = f.read().strip()
        ctx.load_cert_chain(cfg.tls_cert_file, cfg.tls_key_file, password)
    return ctx


class V2gLink:
    """One connection: V2GTP + EXI in, typed messages out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = v2gtp.Framer()
        self.codecs = {ns: Codec.for_namespace(ns) for ns in _CODECS}
        self.pending: list[v2gtp.V2gtpMessage | v2gtp.V2gtpError] = []

    async def send(self, step: Send) -> None:
        codec = self.codecs[step.namespace]
        payload = codec.encode_message(step.name, step.message)
        self.writer.write(v2gtp.pack(codec.namespace.payload_type, payload))
        await self.writer.drain()

    async def receive(self) -> tuple[str, Any]:
        while not self.pending:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("the SECC closed the connection")
            self.pending.extend(self.framer.feed(data))
        msg = self.pending.pop(0)
        if isinstance(msg, v2gtp.V2gtpError):
            raise ConnectionError(f"V2GTP from the SECC: {msg.detail}")
        return Codec.for_namespace(msg.payload_type).decode_message(msg.payload)

    async def close(self) -> None:
        self.writer.close()
        # The peer may have gone first; nothing is left to say to it.
        with contextlib.suppress(OSError, ssl.SSLError):
            await self.writer.wait_closed()


class NoTls(RuntimeError):
    pass


Tracer = Callable[[str, str, Any], None]  # ("tx" | "rx", message name, message object)


async def connect(cfg: EvConfig, iface: str, sdp_port: int = sdp_client.SDP_PORT
                  ) -> V2gLink:
    """SDP, then TCP or TLS to the SECC that answered; raises OSError, ssl.SSLError,
    TimeoutError (no SDP answer) or NoTls (the SECC offers no TLS, ours wants it)."""
    answer = await sdp_client.discover(iface, cfg.tls, cfg.sdp_tries, sdp_port)
    if cfg.tls and not answer.tls:
        raise NoTls("the SECC offers no TLS")
    ctx = tls_context(cfg) if answer.tls else None
    reader, writer = await asyncio.open_connection(
        sdp_client.connect_host(answer, iface), answer.port, ssl=ctx)
    return V2gLink(reader, writer)


async def session(machine: Evcc, link: V2gLink, clock: Callable[[], float],
                  on_message: Tracer | None = None) -> Done:
    """One -20 session on `link`, request by request, until the machine is done."""
    step: Send | Done = machine.start(clock())
    while isinstance(step, Send):
        if step.delay_s > 0:
            await asyncio.sleep(step.delay_s)
        try:
            await link.send(step)
            if on_message is not None:
                on_message("tx", step.name, step.message)
            name, msg = await asyncio.wait_for(link.receive(), step.timeout_s)
            if on_message is not None:
                on_message("rx", name, msg)
        except TimeoutError:
            return machine.on_timeout(clock())
        except (ConnectionError, OSError, ExiError, ssl.SSLError) as e:
            return Done("failed", f"{step.name}: {e}")
        step = machine.on_response(name, msg, clock(), int(time.time()))
    return step


async def run(cfg: EvConfig, iface: str,
              clock: Callable[[], float] = time.monotonic,
              sdp_port: int = sdp_client.SDP_PORT) -> EvResult:
    """Charge (and discharge) as `cfg` says, through whatever SECC answers SDP on `iface`."""
    battery = Battery(cfg.capacity_wh, cfg.soc_start)
    result = EvResult("failed", "", cfg.service, cfg.control_mode)
    t0 = clock()
    resume_id: bytes | None = None
    pause_done = False
    while True:
        try:
            link = await connect(cfg, iface, sdp_port)
        except NoTls as e:
            result.reason = str(e)
            break
        except (OSError, ssl.SSLError, TimeoutError) as e:
            result.outcome, result.reason = "failed", f"no session: {e}"
            break
        ssl_object = link.writer.get_extra_info("ssl_object")
        result.tls_version = ssl_object.version() if ssl_object is not None else ""
        machine = Evcc(cfg, battery, t0, resume_id, pause_done)
        try:
            done = await session(machine, link, clock)
        finally:
            await link.close()
        result.sessions += 1
        result.resumed = result.resumed or machine.resumed
        result.evseid = machine.evseid
        result.sent += machine.sent
        result.loops += machine.loops
        result.notifications += machine.notifications
        result.outcome, result.reason = done.outcome, done.reason
        if done.outcome != "paused":
            break
        resume_id, pause_done = machine.sid, machine.pause_done
        await asyncio.sleep(cfg.resume_after_s)
    result.soc = battery.soc
    result.energy_in_wh = battery.energy_in_wh
    result.energy_out_wh = battery.energy_out_wh
    return result
