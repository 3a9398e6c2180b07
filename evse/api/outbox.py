"""The bounded outgoing queue, pure. A slow or absent broker must never delay the
station, nor grow memory without bound:

- status (retained): one slot per topic, the newest payload wins (an energy manager
  wants the state now, not a backlog of old states);
- replies: a FIFO of at most `max_replies`; on overflow the oldest is dropped and
  counted (`dropped`), since a reply that old has lost its asker anyway.

Status goes before replies of the same turn; the adapter pops and publishes."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    retain: bool
    correlation: bytes | None = None  # MQTT 5 correlation data echoed on a reply


class Outbox:
    def __init__(self, max_replies: int) -> None:
        self._status: OrderedDict[str, Outgoing] = OrderedDict()
        self._replies: deque[Outgoing] = deque()
        self._max = max_replies
        self.dropped = 0  # replies lost to the bound

    def put_status(self, topic: str, payload: bytes) -> None:
        self._status.pop(topic, None)  # the newest wins, and goes to the back
        self._status[topic] = Outgoing(topic, payload, retain=True)

    def put_reply(self, item: Outgoing) -> None:
        if len(self._replies) >= self._max:
            self._replies.popleft()
            self.dropped += 1
        self._replies.append(item)

    def pop(self) -> Outgoing | None:
        if self._status:
            return self._status.popitem(last=False)[1]
        if self._replies:
            return self._replies.popleft()
        return None

    def __len__(self) -> int:
        return len(self._status) + len(self._replies)
