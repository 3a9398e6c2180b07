"""The -20 session dispatcher: V2GTP payloads in, V2GTP frames and station actions out.

Sans-IO: one `Session` per TCP/TLS connection, fed with (payload type, EXI payload),
the station's snapshot and `now`. It decodes with the codec of the payload type's
namespace, checks the request is one the previous outcome allows, checks the SessionID,
calls the handler and encodes its response. Whatever goes wrong ends this session
cleanly (a FAILED_* response where the standard has one, else nothing) and never raises
into the transport:

- a request not in the previous `Outcome.next` -> FAILED_SequenceError in the matching
  response, end (-20: an unexpected message ends the session);
- a wrong SessionID -> FAILED_UnknownSession, end;
- undecodable EXI, an unknown payload type, a message that is no request -> end;
- no request for `sequence_timeout_s` (V2G_SECC_Sequence_Timeout, 60 s) -> end.

Paused sessions (SessionStop Pause) are kept in `PausedSessions` (bounded, owned by
the SECC of the EVSE) so a later connection can resume them with the old SessionID.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from evse.iso15118 import v2gtp
from evse.iso15118.d20.failed_response import failed_response, response_name
from evse.iso15118.d20.registry import Handler, default_handlers
from evse.iso15118.d20.session_setup import ZERO_ID
from evse.iso15118.d20.types import (
    Action,
    EnergyTransfer,
    Namespace,
    SeccConfig,
    SessionContext,
    SessionEnded,
    StationView,
    header,
)
from evse.iso15118.exi import Codec, ExiError

log = logging.getLogger(__name__)

PAYLOAD_NAMESPACES: Final[Mapping[int, Namespace]] = {
    v2gtp.SAP: "app",
    v2gtp.COMMON: "common",
    v2gtp.AC: "ac",
    v2gtp.DC: "dc",
}
NAMESPACE_PAYLOADS: Final[Mapping[Namespace, int]] = {
    ns: pt for pt, ns in PAYLOAD_NAMESPACES.items()
}
FIRST_REQUEST: Final = "supportedAppProtocolReq"
PEER_KEY: Final = "tls_peer"  # ctx.extra: SHA-256 of the car's TLS certificate, if any
_NO_HEADER: Final = frozenset({FIRST_REQUEST, "SessionSetupReq"})


class Codecs:
    """One codec per namespace, loaded on first use and shared by all sessions."""

    def __init__(self) -> None:
        self._codecs: dict[Namespace, Codec] = {}

    def load(self, namespaces: Iterable[Namespace]) -> None:
        """Load these now (tens of ms each) rather than while a car waits for an answer."""
        for ns in namespaces:
            self.get(ns)

    def get(self, namespace: Namespace) -> Codec:
        codec = self._codecs.get(namespace)
        if codec is None:
            codec = self._codecs[namespace] = Codec.for_namespace(namespace)
        return codec


class PausedSessions:
    """Contexts of paused sessions by SessionID; the oldest goes beyond `limit`."""

    def __init__(self, limit: int = 4) -> None:
        self._limit = limit
        self._by_id: OrderedDict[bytes, SessionContext] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_id)

    def put(self, ctx: SessionContext) -> None:
        self._by_id[ctx.session_id] = ctx
        self._by_id.move_to_end(ctx.session_id)
        while len(self._by_id) > self._limit:
            self._by_id.popitem(last=False)

    def take(
        self, session_id: bytes, namespace: Namespace, peer: bytes | None = None
    ) -> SessionContext | None:
        """The paused context with this id if it fits the negotiated namespace and, when
        the paused session's car had a TLS certificate, it is the same car (-20 ties a
        resumed session to the pairing of the TLS peers)."""
        ctx = self._by_id.get(session_id)
        if ctx is None or ctx.namespace != namespace or ctx.extra.get(PEER_KEY) != peer:
            return None
        del self._by_id[session_id]
        return ctx


@dataclass(frozen=True, slots=True)
class Reply:
    """What one received message leads to."""

    data: bytes  # the V2GTP frame to send; b"" = nothing to send
    request: str | None  # the request's element name, when it decoded
    response: str | None
    actions: tuple[Action, ...]
    ended: bool  # close the connection once `data` is written


class Session:
    """One V2G communication session (one connection)."""

    def __init__(
        self,
        config: SeccConfig,
        now: float,
        *,
        codecs: Codecs,
        paused: PausedSessions,
        handlers: Mapping[str, Handler] | None = None,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        peer: bytes | None = None,
    ) -> None:
        self.ctx = SessionContext(config, random_bytes=random_bytes)
        self.ctx.extra[PEER_KEY] = self._peer = peer
        self._codecs = codecs
        self._paused = paused
        self._handlers = handlers if handlers is not None else default_handlers()
        self.next: frozenset[str] = frozenset({FIRST_REQUEST})
        self.last_at = now
        self.ended = False

    @property
    def deadline(self) -> float:
        """When the sequence timeout ends the session if no request arrives."""
        return self.last_at + self.ctx.config.sequence_timeout_s

    def poll(self, now: float) -> Reply | None:
        """The timeout's end of the session, once, when `now` has passed the deadline."""
        if self.ended or now < self.deadline:
            return None
        return self._end(None, "sequence_timeout")

    def abort(self, reason: str) -> Reply | None:
        """The transport lost the connection (EOF, V2GTP error): end, once."""
        if self.ended:
            return None
        return self._end(None, reason)

    def receive(self, payload_type: int, payload: bytes, view: StationView, now: float) -> Reply:
        if self.ended:
            return Reply(b"", None, None, (), True)
        if now >= self.deadline:
            return self._end(None, "sequence_timeout")
        namespace = PAYLOAD_NAMESPACES.get(payload_type)
        if namespace is None:
            return self._end(None, f"payload type {payload_type:#06x} not served")
        codec = self._codecs.get(namespace)
        try:
            name, req = codec.decode_message(payload)
        except (ExiError, KeyError, TypeError) as exc:
            return self._end(None, f"undecodable {namespace} message: {exc}")
        if not name.endswith("Req") or not hasattr(req, "to_json"):
            return self._end(name, f"{name} is not a request")
        if name not in self.next:
            return self._refuse(codec, name, view, "FAILED_SequenceError", "sequence_error")
        if name not in _NO_HEADER and req.Header.SessionID != self.ctx.session_id:
            return self._refuse(codec, name, view, "FAILED_UnknownSession", "unknown_session")
        if name == "SessionSetupReq" and req.Header.SessionID != ZERO_ID:
            self._resume(req.Header.SessionID)
        handler = self._handlers.get(name)
        if handler is None:
            return self._refuse(codec, name, view, "FAILED", f"no handler for {name}")
        try:
            outcome = handler(req, self.ctx, view, now)
            out_codec = self._codecs.get(outcome.namespace)
            data = out_codec.encode_message(outcome.response_name, outcome.response)
        except Exception:  # a handler bug must not take the SECC down: log it, stop power
            log.exception("handling %s failed; ending the session", name)
            return self._refuse(codec, name, view, "FAILED", "handler_error")
        self.last_at = now
        self.next = outcome.next
        frame = v2gtp.pack(NAMESPACE_PAYLOADS[outcome.namespace], data)
        if outcome.next:
            return Reply(frame, name, outcome.response_name, outcome.actions, False)
        if self.ctx.paused:
            self._paused.put(self.ctx)
        self.ended = True
        actions = self._closing_actions(outcome.actions, f"{outcome.response_name} ends")
        return Reply(frame, name, outcome.response_name, actions, True)

    def _resume(self, session_id: bytes) -> None:
        old = self._paused.take(session_id, self.ctx.namespace, self._peer)
        if old is not None:  # SessionSetup sees ctx.paused and answers OldSessionJoined
            self.ctx = replace(old, random_bytes=self.ctx.random_bytes)

    def _refuse(self, codec: Codec, name: str, view: StationView, code: str, reason: str) -> Reply:
        """The matching response with a negative code, then the end of the session."""
        log.warning("-20 session: %s (%s) -> %s", name, reason, code)
        if codec.namespace.short == "app":  # the handshake's response has no such codes
            return self._end(name, reason)
        res_name = response_name(name)
        try:
            res: Any = failed_response(codec, res_name, code, header(self.ctx, view))
            data = codec.encode_message(res_name, res)
        except (ExiError, KeyError, TypeError, ValueError) as exc:
            log.error("no %s for %s: %s", code, name, exc)
            return self._end(name, reason)
        self.ended = True
        frame = v2gtp.pack(codec.namespace.payload_type, data)
        return Reply(frame, name, res_name, self._closing_actions((), reason), True)

    def _end(self, name: str | None, reason: str) -> Reply:
        log.warning("-20 session ends: %s", reason)
        self.ended = True
        return Reply(b"", name, None, self._closing_actions((), reason), True)

    def _closing_actions(self, actions: tuple[Action, ...], reason: str) -> tuple[Action, ...]:
        """Safety first: power stops with the session; the station hears it ended."""
        out = list(actions)
        if self.ctx.energy_transfer and not any(isinstance(a, EnergyTransfer) for a in out):
            out.append(EnergyTransfer(start=False))
        self.ctx.energy_transfer = False
        if not any(isinstance(a, SessionEnded) for a in out):
            out.append(SessionEnded(reason, paused=self.ctx.paused))
        return tuple(out)
