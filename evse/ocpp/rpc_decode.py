"""The costly, stateless half of receiving a frame: parse it within bounds and check its
payload against the schema. Pure (it reads a snapshot of the outstanding CALL and
nothing else), so the endpoint runs it on a worker thread for large frames: a 4 MiB
frame takes seconds of schema validation, and the event loop must not wait for that.
The session then applies the result (its state changes) on the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evse.ocpp.json_bounds import FrameRejected, loads_bounded
from evse.ocpp.schemas import SchemaProblem, SchemaSet, UnknownAction


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    msg: Any = None  # the parsed frame, when it parsed within bounds
    rejected: str | None = None  # why it is outside our bounds (FrameRejected)
    not_json: bool = False
    checked: tuple[str, str] | None = None  # (action, kind) the payload was checked for
    problem: SchemaProblem | None = None
    unknown: bool = False  # the schema set has no (action, kind)

    def check(
        self, schemas: SchemaSet, action: str, kind: str, payload: Any
    ) -> SchemaProblem | None:
        """The check done in `decode_frame` when it was for this (action, kind), else now."""
        if self.checked == (action, kind):
            if self.unknown:
                raise UnknownAction(action[:64])
            return self.problem
        return schemas.check(action, kind, payload)


def decode_frame(
    schemas: SchemaSet, text: str, pending_id: str | None, pending_action: str | None
) -> Decoded:
    try:
        msg = loads_bounded(text)
    except FrameRejected as exc:
        return Decoded(text, rejected=str(exc))
    except ValueError:
        return Decoded(text, not_json=True)
    if not isinstance(msg, list) or len(msg) < 3:
        return Decoded(text, msg)
    if msg[0] in (2, 6) and len(msg) == 4 and isinstance(msg[2], str) and schemas.knows(msg[2]):
        kind = "Request" if msg[0] == 2 else ""
        try:
            problem = schemas.check(msg[2], kind, msg[3])
        except UnknownAction:
            return Decoded(text, msg, checked=(msg[2], kind), unknown=True)
        return Decoded(text, msg, checked=(msg[2], kind), problem=problem)
    if (
        msg[0] == 3
        and len(msg) == 3
        and pending_action is not None
        and pending_id is not None
        and msg[1] == pending_id
    ):
        problem = schemas.check(pending_action, "Response", msg[2])
        return Decoded(text, msg, checked=(pending_action, "Response"), problem=problem)
    return Decoded(text, msg)
