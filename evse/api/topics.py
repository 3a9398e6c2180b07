"""The topic map (docs/mqtt-api.md), pure: names in, names out.

    {prefix}/online                 "online" / "offline" (retained; the last will)
    {prefix}/status                 station status JSON (retained)
    {prefix}/evse/{id}/status       one EVSE's status JSON (retained)
    {prefix}/evse/{id}/set/{cmd}    commands in (cmd: see COMMANDS)
    {prefix}/evse/{id}/reply        replies (unless an MQTT 5 response topic is given)
    {prefix}/reply                  replies to a command whose EVSE cannot be read
"""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS = ("setpoint", "limits", "clear", "enable", "charge")
_FORBIDDEN = ("+", "#", "\x00")


def check_prefix(prefix: str) -> str | None:
    """Why `prefix` cannot be a topic prefix, or None when it can."""
    if not prefix or len(prefix) > 128:
        return "must be 1-128 characters"
    if any(c in prefix for c in _FORBIDDEN):
        return "must not contain '+', '#' or NUL (MQTT wildcards)"
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        return "must not start or end with '/' nor have an empty level"
    if prefix.startswith("$"):
        return "must not start with '$' (broker topics)"
    return None


@dataclass(frozen=True, slots=True)
class CommandTopic:
    evse_id: int | None  # None: the level is not an EVSE id
    name: str


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str

    @property
    def online(self) -> str:
        return f"{self.prefix}/online"

    @property
    def station_status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def command_filter(self) -> str:
        return f"{self.prefix}/evse/+/set/+"

    @property
    def station_reply(self) -> str:
        return f"{self.prefix}/reply"

    def evse_status(self, evse_id: int) -> str:
        return f"{self.prefix}/evse/{evse_id}/status"

    def command(self, evse_id: int, name: str) -> str:
        return f"{self.prefix}/evse/{evse_id}/set/{name}"

    def reply(self, evse_id: int | None) -> str:
        return self.station_reply if evse_id is None else f"{self.prefix}/evse/{evse_id}/reply"

    def parse_command(self, topic: str) -> CommandTopic | None:
        """`{prefix}/evse/{id}/set/{name}` -> its parts; None for any other topic."""
        head = f"{self.prefix}/evse/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 3 or parts[1] != "set":
            return None
        raw_id, name = parts[0], parts[2]
        evse_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 4 else None
        return CommandTopic(evse_id, name)
