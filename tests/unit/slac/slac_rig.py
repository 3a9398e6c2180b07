"""A fake-clock rig: SLAC state machines, each behind a simulated modem, on one segment.

Frames travel instantly; time jumps to the next deadline of any machine. Every output
is recorded per node so tests can assert on frames and outcomes. `wire_pilot(ev, evse)`
plays the control pilot between them: the EV's PilotToggle reaches the EVSE's `pilot()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from evse.slac import messages as m
from evse.slac.events import Output, PilotToggle, SendFrame
from evse.slac.modem_sim import PlcSegment, SimModem


class Machine(Protocol):
    def receive(self, frame: bytes, now: float) -> list[Output]: ...
    def tick(self, now: float) -> list[Output]: ...
    def deadline(self) -> float | None: ...


@dataclass
class Node:
    name: str
    machine: Machine
    modem: SimModem
    outcomes: list[Output] = field(default_factory=list)
    sent: list[m.Message] = field(default_factory=list)
    received: list[m.Message] = field(default_factory=list)
    mute: bool = False  # drops everything this node sends (a car that never answers)


@dataclass
class Rig:
    segment: PlcSegment = field(default_factory=PlcSegment)
    nodes: list[Node] = field(default_factory=list)
    now: float = 0.0
    pilots: dict[str, Node] = field(default_factory=dict)  # EV node name -> its EVSE node

    def wire_pilot(self, ev: Node, evse: Node) -> None:
        self.pilots[ev.name] = evse

    def add(self, name: str, machine: Machine, modem_mac: bytes) -> Node:
        node = Node(name, machine, self.segment.attach(SimModem(modem_mac)))
        self.nodes.append(node)
        return node

    def handle(self, node: Node, outputs: list[Output]) -> None:
        pending: list[tuple[Node, list[Output]]] = [(node, outputs)]
        while pending:
            src, outs = pending.pop(0)
            for out in outs:
                if isinstance(out, PilotToggle) and src.name in self.pilots:
                    dst = self.pilots[src.name]
                    pending.append((dst, dst.machine.pilot(out.state, self.now)))  # type: ignore[attr-defined]
                if not isinstance(out, SendFrame):
                    src.outcomes.append(out)
                    continue
                decoded = m.decode_frame(out.frame)
                if decoded is not None:
                    src.sent.append(decoded.message)
                if src.mute:
                    continue
                for modem, frame in src.modem.from_host(out.frame):
                    dst = self.node_of(modem)
                    got = m.decode_frame(frame)
                    if got is not None:
                        dst.received.append(got.message)
                    pending.append((dst, dst.machine.receive(frame, self.now)))

    def inject(self, node: Node, frame: bytes) -> list[Output]:
        """A frame arriving at `node` from the wire (foreign, malformed, a third party)."""
        outs = node.machine.receive(frame, self.now)
        self.handle(node, outs)
        return outs

    def node_of(self, modem: SimModem) -> Node:
        return next(n for n in self.nodes if n.modem is modem)

    def step(self) -> bool:
        """Advance to the next deadline; False when no machine waits on time."""
        deadlines = [d for n in self.nodes if (d := n.machine.deadline()) is not None]
        if not deadlines:
            return False
        self.now = max(self.now, min(deadlines))
        for node in self.nodes:
            d = node.machine.deadline()
            if d is not None and d <= self.now:
                self.handle(node, node.machine.tick(self.now))
        return True

    def run_until(self, done: object, limit: float = 120.0) -> None:
        """Step until `done()` is true or the fake clock passes `limit` seconds."""
        assert callable(done)
        while not done():
            if self.now > limit or not self.step():
                return
