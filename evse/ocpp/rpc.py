"""The OCPP-J RPC framework as a sans-IO state machine (OCPP-J Part 4, chapter 4).

Text frames in, events and text frames out, `now` (monotonic seconds) passed in. It knows
the five message types (CALL 2, CALLRESULT 3, CALLERROR 4, CALLRESULTERROR 5, SEND 6),
validates every payload in both directions against the schemas of the negotiated
version, allows one outstanding CALL of its own (4.1.1) and answers every invalid
incoming CALL with the right CALLERROR so the connection stays up.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from evse.ocpp.json_bounds import frame_head
from evse.ocpp.rpc_decode import Decoded, decode_frame
from evse.ocpp.schemas import OcppVersion, SchemaSet, UnknownAction

MAX_ID_LEN = 36  # OCPP-J 4.1.4: messageId is string[36]
# CALLs from the peer being handled at once. OCPP-J 4.1.1 allows one; we tolerate a few
# and answer the rest with a CALLERROR at once, so a flood cannot pile up handler tasks.
MAX_INCOMING = 16


class MessageType(IntEnum):
    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4
    CALLRESULTERROR = 5  # 2.1 only
    SEND = 6  # 2.1 only


class CallInProgress(RuntimeError):
    """A second CALL was started while one is outstanding (OCPP-J 4.1.1)."""


class OutgoingInvalid(ValueError):
    """We were about to send a payload that fails its schema: a bug on our side."""

    def __init__(self, action: str, code: str, description: str) -> None:
        super().__init__(f"{action}: {code}: {description}")
        self.action = action
        self.code = code
        self.description = description


@dataclass(frozen=True, slots=True)
class CallReceived:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SendReceived:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResultReceived:
    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorReceived:
    """Our CALL failed: a CALLERROR came back, or (local=True) its CALLRESULT was invalid."""

    message_id: str
    action: str
    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)
    local: bool = False


@dataclass(frozen=True, slots=True)
class CallTimedOut:
    message_id: str
    action: str


@dataclass(frozen=True, slots=True)
class ResultErrorReceived:
    """The peer could not process a CALLRESULT we sent (2.1 CALLRESULTERROR)."""

    message_id: str
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A frame we dropped without answering (late result, invalid SEND, ...): for logs."""

    reason: str


Event = (
    CallReceived
    | SendReceived
    | ResultReceived
    | ErrorReceived
    | CallTimedOut
    | ResultErrorReceived
    | Ignored
)


@dataclass(frozen=True, slots=True)
class PendingCall:
    message_id: str
    action: str
    deadline: float


def _dump(frame: list[Any]) -> str:
    # ASCII only: every frame we build can be encoded and sent, whatever a peer put in
    # a string we echo (OCPP-J 4.2.3: a CALLERROR never carries undecodable text).
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=True)


def _error_frame(
    mtype: MessageType, message_id: str, code: str, description: str, details: dict[str, Any]
) -> str:
    return _dump([int(mtype), message_id, code, description[:255], details])


class RpcSession:
    """One OCPP-J connection's RPC state. Create a new one per WebSocket connection."""

    def __init__(
        self,
        schemas: SchemaSet,
        call_timeout: float = 30.0,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.schemas = schemas
        self.version = schemas.version
        self.call_timeout = call_timeout
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self.outstanding: PendingCall | None = None
        self._incoming: dict[str, str] = {}  # CALLs we still owe an answer: id -> action
        self._decoded = Decoded("")  # the frame being applied (its schema check is reused)

    # -- outgoing ---------------------------------------------------------------------

    def _check_out(self, action: str, kind: str, payload: dict[str, Any]) -> None:
        try:
            problem = self.schemas.check(action, kind, payload)
        except UnknownAction as exc:
            raise OutgoingInvalid(action, "NotImplemented", f"not in {self.version}") from exc
        if problem is not None:
            raise OutgoingInvalid(action, problem.code, problem.description)

    def start_call(
        self, action: str, payload: dict[str, Any], now: float, message_id: str | None = None
    ) -> tuple[str, str]:
        """Begin a CALL; returns (message id, frame). One at a time (OCPP-J 4.1.1)."""
        if self.outstanding is not None:
            raise CallInProgress(f"{self.outstanding.action} {self.outstanding.message_id}")
        self._check_out(action, "Request", payload)
        mid = message_id or self._new_id()
        if len(mid) > MAX_ID_LEN:
            raise ValueError(f"message id longer than {MAX_ID_LEN}: {mid!r}")
        self.outstanding = PendingCall(mid, action, now + self.call_timeout)
        return mid, _dump([int(MessageType.CALL), mid, action, payload])

    def answer(self, message_id: str, payload: dict[str, Any]) -> str:
        """CALLRESULT for an incoming CALL; the payload is validated before it leaves."""
        action = self._incoming.get(message_id)
        if action is None:
            raise KeyError(f"no incoming CALL {message_id!r} awaits an answer")
        self._check_out(action, "Response", payload)
        del self._incoming[message_id]
        return _dump([int(MessageType.CALLRESULT), message_id, payload])

    def answer_error(
        self,
        message_id: str,
        code: str,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> str:
        self._incoming.pop(message_id, None)
        return _error_frame(MessageType.CALLERROR, message_id, code, description, details or {})

    def send(self, action: str, payload: dict[str, Any]) -> str:
        """SEND (2.1): unconfirmed, allowed while a CALL is outstanding (OCPP-J 4.2.4)."""
        if self.version != OcppVersion.V21:
            raise OutgoingInvalid(action, "MessageTypeNotSupported", "SEND needs OCPP 2.1")
        self._check_out(action, "", payload)
        return _dump([int(MessageType.SEND), self._new_id(), action, payload])

    # -- time -------------------------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        return None if self.outstanding is None else self.outstanding.deadline

    def expire(self, now: float) -> list[Event]:
        """Time out the outstanding CALL once its deadline has passed (4.1.1)."""
        pending = self.outstanding
        if pending is not None and now >= pending.deadline:
            self.outstanding = None
            return [CallTimedOut(pending.message_id, pending.action)]
        return []

    def abandon_call(self, message_id: str) -> None:
        """Stop waiting for our CALL `message_id` (timed out or connection gone)."""
        if self.outstanding is not None and self.outstanding.message_id == message_id:
            self.outstanding = None

    def abandon(self) -> PendingCall | None:
        """The connection is gone: forget the outstanding CALL and owed answers."""
        pending, self.outstanding = self.outstanding, None
        self._incoming.clear()
        return pending

    # -- incoming ---------------------------------------------------------------------

    def receive(self, text: str, now: float) -> tuple[list[Event], list[str]]:
        """Feed one text frame; returns (events for the application, frames to send)."""
        return self.apply(self.decode(text), now)

    def decode(self, text: str) -> Decoded:
        """Parse and schema-check a frame without changing the session: safe to run on
        another thread while the loop goes on (for large frames), then `apply` it."""
        pending = self.outstanding
        return decode_frame(
            self.schemas,
            text,
            None if pending is None else pending.message_id,
            None if pending is None else pending.action,
        )

    def apply(self, decoded: Decoded, now: float) -> tuple[list[Event], list[str]]:
        """The state-changing half of `receive` for a frame from `decode`."""
        events = self.expire(now)
        text = decoded.text
        if decoded.rejected is not None:
            ev, out = self._on_rejected(text, decoded.rejected)
            return events + ev, out
        if decoded.not_json:
            head = frame_head(text)
            mid = head[1] if head is not None and head[0] == MessageType.CALL else "-1"
            return events, [self._rpc_error(mid, "message is not valid JSON")]
        msg = decoded.msg
        self._decoded = decoded
        if not isinstance(msg, list) or len(msg) < 3 or type(msg[0]) is not int:
            mid = msg[1] if isinstance(msg, list) and len(msg) > 1 else "-1"
            return events, [self._rpc_error(mid, "not an OCPP-J message array")]
        mid = msg[1]
        if not isinstance(mid, str) or not mid or len(mid) > MAX_ID_LEN:
            return events, [self._rpc_error("-1", "messageId is not a string[36]")]
        mtype = msg[0]
        v21 = self.version == OcppVersion.V21
        if mtype == MessageType.CALL:
            ev, out = self._on_call(msg, mid)
        elif mtype == MessageType.CALLRESULT:
            ev, out = self._on_result(msg, mid)
        elif mtype == MessageType.CALLERROR:
            ev, out = self._on_error(msg, mid), []
        elif mtype == MessageType.CALLRESULTERROR and v21:
            ev, out = self._on_result_error(msg, mid), []
        elif mtype == MessageType.SEND and v21:
            ev, out = self._on_send(msg, mid), []
        else:
            # 4.1.3: an unknown message type's payload is ignored; we say so once.
            err = _error_frame(
                MessageType.CALLERROR, mid, "MessageTypeNotSupported", f"type {mtype}", {}
            )
            ev, out = [Ignored(f"message type {mtype}")], [err]
        return events + ev, out

    def _on_rejected(self, text: str, reason: str) -> tuple[list[Event], list[str]]:
        """A frame outside our bounds (too deep, huge number, NaN, lone surrogate): a CALL
        is answered FormatViolation with its id, our CALL's result fails like an invalid
        one, anything else is an RPC framework error with id "-1" (OCPP-J 4.2.3)."""
        head = frame_head(text)
        if head is None:
            return [], [self._rpc_error("-1", f"frame rejected: {reason}")]
        mtype, mid = head
        if mtype == MessageType.CALL:
            if mid in self._incoming:
                return [], [self._duplicate(mid)]
            err = _error_frame(MessageType.CALLERROR, mid, "FormatViolation", reason, {})
            return [], [err]
        pending = self.outstanding
        if mtype in (MessageType.CALLRESULT, MessageType.CALLERROR) and (
            pending is not None and pending.message_id == mid
        ):
            self.outstanding = None
            event = ErrorReceived(mid, pending.action, "FormatViolation", reason, local=True)
            if mtype == MessageType.CALLRESULT and self.version == OcppVersion.V21:
                frame = _error_frame(
                    MessageType.CALLRESULTERROR, mid, "FormatViolation", reason, {}
                )
                return [event], [frame]
            return [event], []
        return [Ignored(f"type {mtype} frame {mid} rejected: {reason}")], []

    def _duplicate(self, mid: str) -> str:
        # The first CALL with this id keeps its place; only the repeat is refused.
        return _error_frame(
            MessageType.CALLERROR, mid, "GenericError", "message id is already being handled", {}
        )

    def _rpc_error(self, mid: Any, description: str) -> str:
        if not isinstance(mid, str) or not mid or len(mid) > MAX_ID_LEN:
            mid = "-1"  # 4.2.3: the id could not be read
        return _error_frame(MessageType.CALLERROR, mid, "RpcFrameworkError", description, {})

    def _on_call(self, msg: list[Any], mid: str) -> tuple[list[Event], list[str]]:
        if len(msg) != 4 or not isinstance(msg[2], str):
            return [], [self._rpc_error(mid, "CALL must be [2, id, action, payload]")]
        action, payload = msg[2], msg[3]
        if mid in self._incoming:
            return [], [self._duplicate(mid)]
        if len(self._incoming) >= MAX_INCOMING:
            err = _error_frame(
                MessageType.CALLERROR, mid, "GenericError", "too many CALLs in progress", {}
            )
            return [], [err]
        if not self.schemas.knows(action):
            # Checked against the known set before anything else sees the name.
            err = _error_frame(
                MessageType.CALLERROR, mid, "NotImplemented", f"unknown action {action[:64]!r}", {}
            )
            return [], [err]
        try:
            problem = self._decoded.check(self.schemas, action, "Request", payload)
        except UnknownAction:
            err = _error_frame(
                MessageType.CALLERROR, mid, "NotImplemented", f"unknown action {action!r}", {}
            )
            return [], [err]
        if problem is not None:
            details = {"path": problem.path} if problem.path else {}
            err = _error_frame(
                MessageType.CALLERROR, mid, problem.code, problem.description, details
            )
            return [], [err]
        self._incoming[mid] = action
        return [CallReceived(mid, action, payload)], []

    def _on_result(self, msg: list[Any], mid: str) -> tuple[list[Event], list[str]]:
        pending = self.outstanding
        if pending is None or pending.message_id != mid:
            return [Ignored(f"CALLRESULT {mid} matches no outstanding CALL")], []
        self.outstanding = None
        if len(msg) != 3:
            problem_code, text = "RpcFrameworkError", "CALLRESULT must be [3, id, payload]"
        else:
            problem = self._decoded.check(self.schemas, pending.action, "Response", msg[2])
            if problem is None:
                return [ResultReceived(mid, pending.action, msg[2])], []
            problem_code, text = problem.code, problem.description
        event = ErrorReceived(mid, pending.action, problem_code, text, local=True)
        if self.version != OcppVersion.V21:
            return [event], []
        # 2.1: tell the peer its CALLRESULT could not be processed (4.2.3).
        frame = _error_frame(MessageType.CALLRESULTERROR, mid, problem_code, text, {})
        return [event], [frame]

    def _on_error(self, msg: list[Any], mid: str) -> list[Event]:
        pending = self.outstanding
        if pending is None or pending.message_id != mid:
            return [Ignored(f"CALLERROR {mid} matches no outstanding CALL")]
        self.outstanding = None
        code = msg[2] if isinstance(msg[2], str) else "GenericError"
        desc = msg[3] if len(msg) > 3 and isinstance(msg[3], str) else ""
        details = msg[4] if len(msg) > 4 and isinstance(msg[4], dict) else {}
        return [ErrorReceived(mid, pending.action, code, desc, details)]

    def _on_result_error(self, msg: list[Any], mid: str) -> list[Event]:
        code = msg[2] if isinstance(msg[2], str) else "GenericError"
        desc = msg[3] if len(msg) > 3 and isinstance(msg[3], str) else ""
        return [ResultErrorReceived(mid, code, desc)]

    def _on_send(self, msg: list[Any], mid: str) -> list[Event]:
        # 4.2.4: a SEND is never answered, not even when it is invalid.
        if len(msg) != 4 or not isinstance(msg[2], str):
            return [Ignored("malformed SEND")]
        try:
            problem = self._decoded.check(self.schemas, msg[2], "", msg[3])
        except UnknownAction:
            return [Ignored(f"SEND of unknown action {msg[2]!r}")]
        if problem is not None:
            return [Ignored(f"invalid SEND {msg[2]}: {problem.description}")]
        return [SendReceived(mid, msg[2], msg[3])]
