"""A hostile CSMS for fuzzing the station: plain `websockets` and `json`, none of the
station's RPC code, so it judges the station from the outside.

It answers every station CALL correctly (so transaction messages can be kept) and, in
between, sends frames of every hostile kind: random and mutated CALLs, unknown and
absurd actions, bad message ids, duplicate ids, CALLRESULT / CALLERROR for unknown ids,
binary frames, invalid UTF-8, deep nesting, huge numbers, NaN / Infinity, lone
surrogates, huge payloads. It records what a strict CSMS checks: every CALL answered
with its own id, the connections, every TransactionEvent.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


ANSWERS: dict[str, Any] = {
    "BootNotification": lambda: {"currentTime": now(), "interval": 300, "status": "Accepted"},
    "Heartbeat": lambda: {"currentTime": now()},
    "Authorize": lambda: {"idTokenInfo": {"status": "Accepted"}},
    "TransactionEvent": lambda: {},
}

# Valid CSMS -> station CALLs that leave the station's state and transaction alone;
# the fuzzer sends them as they are and mutated.
TEMPLATES: list[tuple[str, dict[str, Any]]] = [
    ("GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}),
    ("GetBaseReport", {"requestId": 1, "reportBase": "SummaryInventory"}),
    ("GetReport", {"requestId": 2, "componentVariable": [{"component": {"name": "EVSE"}}]}),
    ("GetLocalListVersion", {}),
    ("GetTransactionStatus", {}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification"}),
    ("DataTransfer", {"vendorId": "fuzz", "messageId": "m", "data": {"a": [1, 2, {"b": None}]}}),
    ("ClearCache", {}),
    ("SetVariables", {"setVariableData": [
        {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "OrganizationName"},
         "attributeValue": "fuzz"}]}),
    ("UnlockConnector", {"evseId": 7, "connectorId": 1}),
    ("SetDisplayMessage", {"message": {"id": 1, "priority": "AlwaysFront",
                                       "message": {"format": "UTF8", "content": "hi"}}}),
]


# OCPP-J 4.3, Table 9: the only error codes a CALLERROR may carry.
ERROR_CODES = frozenset({
    "FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
    "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
    "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError", "SecurityError",
    "TypeConstraintViolation",
})


def well_formed(frame: list[Any]) -> bool:
    """A CALLRESULT [3, id, {..}] or a CALLERROR [4, id, code, description[255], {..}]."""
    if not isinstance(frame[1], str) or not 1 <= len(frame[1]) <= 36:
        return False
    if frame[0] == 3:
        return len(frame) == 3 and isinstance(frame[2], dict)
    return (
        len(frame) == 5
        and frame[2] in ERROR_CODES
        and isinstance(frame[3], str)
        and len(frame[3]) <= 255
        and isinstance(frame[4], dict)
    )


@dataclass
class Sent:
    """A hostile frame that must be answered: a CALL whose id can be read."""

    mid: str
    text: str
    connection: int


@dataclass
class HostileCsms:
    rng: random.Random
    version: str = "ocpp2.1"
    server: Server | None = None
    port: int = 0
    connections: int = 0
    closes_caused: int = 0  # connections we ended on purpose (invalid UTF-8, oversize)
    conn: ServerConnection | None = None
    answers: dict[str, list[Any]] = field(default_factory=dict)  # id -> replies
    expected: list[Sent] = field(default_factory=list)
    transaction_events: list[dict[str, Any]] = field(default_factory=list)
    station_calls: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)  # answers breaking OCPP-J 4.2
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _counter: int = 0

    def __post_init__(self) -> None:
        # Answers to the station use their own generator: the hostile frames stay the
        # same for a seed however the station's own messages interleave.
        self._answer_rng = random.Random(self.rng.random())

    async def start(self) -> int:
        self.server = await serve(
            self._serve, "127.0.0.1", 0, subprotocols=[Subprotocol(self.version)],
            max_size=None,
        )
        self.port = int(next(iter(self.server.sockets)).getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, conn: ServerConnection) -> None:
        self.connections += 1
        self.conn = conn
        self.changed.set()
        try:
            async for message in conn:
                text = message if isinstance(message, str) else message.decode()
                frame = json.loads(text)  # the station sends valid JSON, always
                if frame[0] == 2:
                    await self._on_station_call(conn, frame)
                elif frame[0] in (3, 4):
                    if not well_formed(frame):
                        self.malformed.append(text[:300])
                    self.answers.setdefault(frame[1], []).append(frame[:3])
                self.changed.set()
        except ConnectionClosed:
            pass
        finally:
            if self.conn is conn:
                self.conn = None
            self.changed.set()

    async def _on_station_call(self, conn: ServerConnection, frame: list[Any]) -> None:
        _, mid, action, payload = frame
        self.station_calls.append(action)
        if action == "TransactionEvent":
            self.transaction_events.append(payload)
        roll = self._answer_rng.random()
        ghost = f"ghost{self._answer_rng.randrange(10**9)}"
        if roll < 0.1:  # a result for a CALL the station never made, first
            await conn.send(json.dumps([3, ghost, {}]))
        elif roll < 0.15:
            await conn.send(json.dumps([4, ghost, "GenericError", "", {}]))
        answer = ANSWERS.get(action, dict)()
        await conn.send(json.dumps([3, mid, answer]))
        if roll > 0.95:  # and the same result again
            await conn.send(json.dumps([3, mid, answer]))

    def _id(self, prefix: str = "f") -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    # -- hostile frames ---------------------------------------------------------------

    def _mutate(self, value: Any, depth: int = 0) -> Any:
        r = self.rng
        if isinstance(value, dict) and value and r.random() < 0.7:
            out = dict(value)
            key = r.choice(list(out))
            choice = r.random()
            if choice < 0.3:
                del out[key]
            elif choice < 0.4:
                out["extra" + str(r.randrange(9))] = self._scalar()
            else:
                out[key] = self._mutate(out[key], depth + 1)
            return out
        if isinstance(value, list) and value and r.random() < 0.7:
            out_list = list(value)
            i = r.randrange(len(out_list))
            out_list[i] = self._mutate(out_list[i], depth + 1)
            if r.random() < 0.2:
                out_list = out_list * r.randrange(2, 80)
            return out_list
        return self._scalar()

    def _scalar(self) -> Any:
        r = self.rng
        return r.choice([
            None, True, False, 0, -1, 2**31, -(2**31) - 1, 2**53, 1.5, -0.0, 1e308,
            "", "x" * r.randrange(1, 3000), "\u00e9\u4e2d\U0001f600", [], {}, [[[]]],
            "".join(r.choice(string.printable) for _ in range(r.randrange(0, 40))),
            r.randrange(-(10**6), 10**6),
        ])

    def _payload_text(self) -> tuple[str, str]:
        """(action, payload JSON text), valid or not."""
        r = self.rng
        action, payload = r.choice(TEMPLATES)
        kind = r.random()
        if kind < 0.25:
            return action, json.dumps(payload)
        if kind < 0.6:
            return action, json.dumps(self._mutate(payload))
        special = r.choice([
            "[" * 2000 + "]" * 2000,
            '{"a":' * 600 + "1" + "}" * 600,
            "9" * r.choice([21, 400, 5000]),
            "-" + "9" * 400,
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            '"\\ud800"',
            '"\\udfff\\ud800"',
            '{"requestId": 1, "reportBase": "\\ud83d"}',
            json.dumps({"data": "y" * r.choice([10_000, 500_000])}),
            json.dumps({"getVariableData": [
                {"component": {"name": "C"}, "variable": {"name": "V"}}] * 5000}),
        ])
        return action, '{"vendorId":"v","data":' + special + "}" if r.random() < 0.5 else special

    def _action(self, action: str) -> str:
        r = self.rng.random()
        if r < 0.8:
            return action
        return self.rng.choice([
            "A" * self.rng.choice([248, 255, 300, 5000]), "../../etc/passwd", "", "Foo\x00",
            "BootNotificationResponse", "NotifyPeriodicEventStream", "Heartbeat",
            "Unknown" + str(self.rng.randrange(10**9)), "\u00e9t\u00e9",
        ])

    async def send_one(self) -> str:
        """Send one hostile frame; returns its kind. At most one CALL of ours awaits an
        answer at a time (OCPP-J 4.1.1), except for deliberate duplicates."""
        conn = self.conn
        assert conn is not None
        r = self.rng
        kind = r.choices(
            ["call", "binary_call", "dup", "bad_id", "result", "error", "send", "garbage",
             "bad_utf8", "oversize"],
            weights=[50, 5, 4, 8, 8, 6, 4, 12, 1, 1],
        )[0]
        if kind in ("call", "binary_call", "dup"):
            action, payload = self._payload_text()
            mid = self._id()
            text = f'[2,"{mid}",{json.dumps(self._action(action))},{payload}]'
            copies = 2 if kind == "dup" else 1
            for _ in range(copies):
                self.expected.append(Sent(mid, text[:300], self.connections))
                if kind == "binary_call":
                    await conn.send(text.encode())
                else:
                    await conn.send(text)
        elif kind == "bad_id":
            bad = r.choice(["17", "null", '""', '"' + "x" * 37 + '"', "[]", "{}", "1.5"])
            await conn.send(f'[2,{bad},"Heartbeat",{{}}]')
        elif kind == "result":
            body = r.choice(["{}", "[" * 3000 + "]" * 3000, "9" * 400, "NaN", '"\\ud800"'])
            await conn.send(f'[3,"{self._id("nobody")}",{body}]')
        elif kind == "error":
            await conn.send(f'[4,"{self._id("nobody")}","GenericError","",{{}}]')
        elif kind == "send":
            action, payload = self._payload_text()
            await conn.send(f'[6,"{self._id()}",{json.dumps(action)},{payload}]')
        elif kind == "garbage":
            await conn.send(r.choice([
                "", "[]", "{}", "null", "[2]", "[2,", "\ufeff[2,\"a\",\"Reset\",{}]", "\x00",
                "[9,\"z\",{}]", "[2.0,\"y\",\"Heartbeat\",{}]", "[true]", '"just a string"',
                "[" * 100_000, "]" * 1000, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            ]))
        elif kind == "bad_utf8":
            # A text frame that is not UTF-8: RFC 6455 makes the peer close (1007).
            self.closes_caused += 1
            await conn.send(b'[2,"u","Heartbeat",{"x":"\xff\xfe"}]', text=True)
        elif kind == "oversize":
            # Beyond the station's frame limit: it closes (1009) and reconnects.
            self.closes_caused += 1
            await conn.send('[2,"big","DataTransfer",{"vendorId":"' + "v" * (5 << 20) + '"}]')
        return kind

    def unanswered(self) -> list[Sent]:
        """CALLs sent on a connection that stayed open, with fewer answers than copies."""
        needed: dict[str, int] = {}
        for sent in self.expected:
            needed[sent.mid] = needed.get(sent.mid, 0) + 1
        return [
            s for s in self.expected
            if len(self.answers.get(s.mid, [])) < needed[s.mid]
        ]
