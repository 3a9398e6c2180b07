"""One command message -> its effect on the station and its reply. No I/O: the adapter
hands in the message, the latest snapshot's facts and `now`; the station is reached
through `StationControl`, whose calls return at once (the API never awaits the
controller). Bad input changes nothing and gets an error reply."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from evse.api import acceptance, commands
from evse.api.commands import CommandError, Parsed
from evse.api.ems_inputs import EmsInputs
from evse.api.outbox import Outgoing
from evse.api.topics import Topics
from evse.energy.operation_modes import EmsInput

log = logging.getLogger(__name__)


class StationControl(Protocol):
    """What commands may do to the station (evse.controller.Controller has these)."""

    def set_allowed(self, evse_id: int, allowed: bool, reason: str) -> None: ...
    def set_operative(self, evse_id: int | None, operative: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    retain: bool = False
    response_topic: str | None = None  # MQTT 5
    correlation: bytes | None = None  # MQTT 5


@dataclass(frozen=True, slots=True)
class Rating:
    max_charge_w: float
    max_discharge_w: float


class CommandHandler:
    def __init__(
        self,
        topics: Topics,
        ems: EmsInputs,
        station: StationControl,
        on_ems_change: Callable[[], None],
        max_payload_bytes: int,
        max_expiry_s: float,
    ) -> None:
        self.topics = topics
        self.ems = ems
        self.station = station
        self.on_ems_change = on_ems_change
        self.max_payload_bytes = max_payload_bytes
        self.max_expiry_s = max_expiry_s
        self.accepted = 0
        self.refused = 0

    def handle(
        self,
        msg: Incoming,
        facts: dict[int, acceptance.EvseFacts],
        ratings: dict[int, Rating],
        now: float,
        now_wall: datetime,
    ) -> Outgoing | None:
        """The reply to publish (None: not a command topic of ours)."""
        ct = self.topics.parse_command(msg.topic)
        if ct is None:
            return None
        eid = ct.evse_id if ct.evse_id in facts else None
        reply_to = msg.response_topic or self.topics.reply(eid)
        try:
            parsed = self._parse(ct.name, msg, ratings.get(eid) if eid is not None else None,
                                 now_wall)
            acceptance.check(eid, facts.get(eid) if eid is not None else None,
                             parsed.command, parsed.corr_id)
            assert eid is not None
            extra = self._apply(eid, parsed, now)
        except CommandError as err:
            self.refused += 1
            log.info("mqtt command %s refused: %s", msg.topic, err)
            body = commands.reply(err.corr_id, ct.name, False, err.code, err.reason)
            return Outgoing(reply_to, body, False, msg.correlation)
        self.accepted += 1
        body = commands.reply(parsed.corr_id, ct.name, True, extra=extra)
        return Outgoing(reply_to, body, False, msg.correlation)

    def _parse(self, name: str, msg: Incoming, rating: Rating | None,
               now_wall: datetime) -> Parsed:
        if msg.retain:
            # A retained command would be replayed at every (re)connect, long after.
            raise CommandError(commands.RETAINED, "commands must not be retained")
        # An unknown EVSE has no rating: parse anyway (for the id), acceptance names it.
        r = rating or Rating(math.inf, math.inf)
        bounds = commands.Bounds(self.max_payload_bytes, self.max_expiry_s,
                                 r.max_charge_w, r.max_discharge_w)
        return commands.parse(name, msg.payload, bounds, now_wall)

    def _apply(self, eid: int, parsed: Parsed, now: float) -> dict[str, float]:
        cmd = parsed.command
        if isinstance(cmd, commands.Setpoint):
            self.ems.set(eid, EmsInput(setpoint_w=cmd.w), now, cmd.expires_in_s)
            self.on_ems_change()
            return {"expires_in_s": cmd.expires_in_s}
        if isinstance(cmd, commands.Limits):
            value = EmsInput(min_w=-cmd.max_discharge_w, max_w=cmd.max_charge_w)
            self.ems.set(eid, value, now, cmd.expires_in_s)
            self.on_ems_change()
            return {"expires_in_s": cmd.expires_in_s}
        if isinstance(cmd, commands.Clear):
            self.ems.clear(eid)
            self.on_ems_change()
        elif isinstance(cmd, commands.Enable):
            self.station.set_operative(eid, cmd.enabled)
        else:
            self.station.set_allowed(eid, cmd.start, "mqtt " + ("start" if cmd.start else "stop"))
        return {}
