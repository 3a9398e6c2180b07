"""What the SLAC state machines hand to their runner: frames to send and outcomes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SendFrame:
    frame: bytes


@dataclass(frozen=True)
class Matched:
    """CM_SLAC_MATCH done: the peer (EV or EVSE host) and the logical network."""

    peer_mac: bytes
    nid: bytes
    nmk: bytes
    run_id: bytes


@dataclass(frozen=True)
class MatchFailed:
    reason: str


@dataclass(frozen=True)
class LinkUp:
    """The modem reports a powerline link in the matched network: the data link is up."""


@dataclass(frozen=True)
class LinkDown:
    reason: str


@dataclass(frozen=True)
class MatchDropped:
    """A match (or matching in progress) ended from outside, e.g. the pilot left B/C/D."""

    reason: str


@dataclass(frozen=True)
class PilotToggle:
    """The EV side's pilot (its S2 switch): "C" closed, "B" open; CM_VALIDATE's toggles.

    Only our simulated EV emits it; wiring it to a simulated pilot in hal is still to do."""

    state: str


Output = SendFrame | Matched | MatchFailed | LinkUp | LinkDown | MatchDropped | PilotToggle
