"""Decrypt a captured TLS 1.3 connection with a key log (NSS format), for `evse exi decode`.

Our SECC writes the key log when `key_log` is configured (debugging only). The session is
found by the client_random of its ClientHello; the traffic keys come from the logged
secrets as RFC 8446 7.3 derives them (HKDF-Expand-Label "key" / "iv"). Handshake records
are decrypted with the handshake secrets only to find each side's Finished, after which
that side's records use the application secrets (`*_TRAFFIC_SECRET_0`, then the next
generation on each KeyUpdate, RFC 8446 7.2). Suites: the ISO 15118-20 ones
(TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256) and TLS_AES_128_GCM_SHA256.

Sans-IO: bytes of one direction in, application data and notes out. A problem (a session
missing from the key log, a wrong key, a suite we do not know, a malformed record) ends
the decryption of that connection with one `TlsProblem` saying why; it never raises.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest.
HRR_RANDOM: Final = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
_MAX_CIPHERTEXT: Final = 2**14 + 256  # RFC 8446 5.2
_HANDSHAKE, _CCS, _ALERT, _APPDATA = 22, 20, 21, 23
_CLIENT_HELLO, _SERVER_HELLO, _FINISHED, _KEY_UPDATE = 1, 2, 20, 24

Aead: TypeAlias = AESGCM | ChaCha20Poly1305


class KeyLogError(ValueError):
    """The key log cannot be read (the message names the line)."""


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    hash: Callable[[], hashes.HashAlgorithm]
    key_len: int
    aead: Callable[[bytes], Aead]


SUITES: Final = {
    0x1301: Suite("TLS_AES_128_GCM_SHA256", hashes.SHA256, 16, AESGCM),
    0x1302: Suite("TLS_AES_256_GCM_SHA384", hashes.SHA384, 32, AESGCM),
    0x1303: Suite("TLS_CHACHA20_POLY1305_SHA256", hashes.SHA256, 32, ChaCha20Poly1305),
}

KeyLog: TypeAlias = dict[bytes, dict[str, bytes]]  # client_random -> label -> secret


def parse_key_log(text: str) -> KeyLog:
    """`LABEL <client_random hex> <secret hex>` per line; '#' lines are comments."""
    out: KeyLog = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise KeyLogError(f"line {n}: expected 'LABEL CLIENT_RANDOM SECRET'")
        label, random_hex, secret_hex = parts
        try:
            random, secret = bytes.fromhex(random_hex), bytes.fromhex(secret_hex)
        except ValueError:
            raise KeyLogError(f"line {n}: client_random and secret must be hex") from None
        if len(random) != 32:
            raise KeyLogError(f"line {n}: client_random has {len(random)} bytes, not 32")
        out.setdefault(random, {})[label] = secret
    return out


def hkdf_expand_label(suite: Suite, secret: bytes, label: bytes, length: int) -> bytes:
    """RFC 8446 7.1 HKDF-Expand-Label with an empty context."""
    full = b"tls13 " + label
    info = struct.pack(">HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(suite.hash(), length, info).derive(secret)


@dataclass
class TrafficKeys:
    """One direction's record protection (RFC 8446 5.3 nonce, 7.3 keys)."""

    suite: Suite
    secret: bytes
    aead: Aead = field(init=False)
    iv: bytes = field(init=False)
    seq: int = 0

    def __post_init__(self) -> None:
        self.aead = self.suite.aead(
            hkdf_expand_label(self.suite, self.secret, b"key", self.suite.key_len))
        self.iv = hkdf_expand_label(self.suite, self.secret, b"iv", 12)

    def open(self, header: bytes, body: bytes) -> bytes:
        nonce = bytes(a ^ b for a, b in zip(self.iv, self.seq.to_bytes(12, "big"), strict=True))
        plain = self.aead.decrypt(nonce, body, header)  # InvalidTag on a wrong key
        self.seq += 1
        return plain

    def next_generation(self) -> TrafficKeys:
        """RFC 8446 7.2: application_traffic_secret_N+1."""
        size = self.suite.hash().digest_size
        return TrafficKeys(self.suite, hkdf_expand_label(self.suite, self.secret,
                                                         b"traffic upd", size))


@dataclass(frozen=True, slots=True)
class TlsNote:
    text: str


@dataclass(frozen=True, slots=True)
class TlsProblem:
    text: str


TlsOutput: TypeAlias = bytes | TlsNote | TlsProblem


class _Stop(Exception):
    """Internal: decryption of this connection ends (the text says why)."""


@dataclass
class _Side:
    buffer: bytearray = field(default_factory=bytearray)
    handshake: bytearray = field(default_factory=bytearray)  # handshake message bytes
    keys: TrafficKeys | None = None
    application: bool = False


class TlsConnection:
    """Both directions of one captured TLS 1.3 connection, decrypted with a key log."""

    def __init__(self, key_log: KeyLog) -> None:
        self._key_log = key_log
        self._sides: dict[str, _Side] = {}
        self._client: str | None = None
        self._secrets: dict[str, bytes] = {}
        self.suite: Suite | None = None
        self.client_random: bytes | None = None
        self.failed = False

    def feed(self, sender: str, data: bytes) -> list[TlsOutput]:
        """Bytes `sender` wrote (in order): its application data, notes, a problem."""
        if self.failed:
            return []
        side = self._sides.setdefault(sender, _Side())
        side.buffer += data
        out: list[TlsOutput] = []
        try:
            while len(side.buffer) >= 5:
                rtype, length = side.buffer[0], struct.unpack(">H", side.buffer[3:5])[0]
                if length > _MAX_CIPHERTEXT or side.buffer[1] != 3:
                    raise _Stop(f"not a TLS record (type {rtype}, length {length})")
                if len(side.buffer) < 5 + length:
                    break
                header, body = bytes(side.buffer[:5]), bytes(side.buffer[5:5 + length])
                del side.buffer[:5 + length]
                self._record(sender, side, rtype, header, body, out)
        except _Stop as e:
            self.failed = True
            out.append(TlsProblem(f"TLS: {e}"))
        return out

    def _record(self, sender: str, side: _Side, rtype: int, header: bytes, body: bytes,
                out: list[TlsOutput]) -> None:
        if rtype == _CCS:  # middlebox compatibility (RFC 8446 D.4): no content
            return
        if side.keys is None:  # before ServerHello: plaintext
            if rtype == _HANDSHAKE:
                side.handshake += body
                self._messages(sender, side, out)
            elif rtype == _ALERT:
                out.append(TlsNote(f"TLS alert {_alert(body)} (plaintext)"))
            elif self.client_random is None:
                raise _Stop("no ClientHello in the capture (it began after the handshake?): "
                            "the session cannot be found in the key log")
            else:
                raise _Stop(f"record type {rtype} before the handshake was protected")
            return
        if rtype != _APPDATA:
            raise _Stop(f"unprotected record type {rtype} after the ServerHello")
        keys = side.keys
        try:
            inner = keys.open(header, body)
        except InvalidTag:
            stage = "application" if side.application else "handshake"
            raise _Stop(f"a {stage} record from {sender} does not decrypt (record "
                        f"{keys.seq}): the key log's secrets do not fit this session") from None
        content = inner.rstrip(b"\x00")
        if not content:
            raise _Stop(f"a record from {sender} has no content type")
        itype, payload = content[-1], content[:-1]
        if itype == _APPDATA and side.application:
            out.append(payload)
        elif itype == _HANDSHAKE:
            side.handshake += payload
            self._messages(sender, side, out)
        elif itype == _ALERT:
            out.append(TlsNote(f"TLS alert {_alert(payload)} from {sender}"))
        else:
            raise _Stop(f"inner content type {itype} from {sender} not expected here")

    def _messages(self, sender: str, side: _Side, out: list[TlsOutput]) -> None:
        """Handshake messages complete in `side.handshake`; what they change."""
        buf = side.handshake
        while len(buf) >= 4:
            mlen = int.from_bytes(buf[1:4], "big")
            if len(buf) < 4 + mlen:
                return
            mtype, body = buf[0], bytes(buf[4:4 + mlen])
            del buf[:4 + mlen]
            if mtype == _CLIENT_HELLO and side.keys is None:
                self._client_hello(sender, body)
            elif mtype == _SERVER_HELLO and side.keys is None:
                self._server_hello(sender, body, out)
            elif mtype == _FINISHED and not side.application:
                # Each side's own Finished closes its handshake: application keys next.
                side.keys = self._keys(sender, "TRAFFIC_SECRET_0")
                side.application = True
            elif mtype == _KEY_UPDATE and side.application and side.keys is not None:
                side.keys = side.keys.next_generation()

    def _client_hello(self, sender: str, body: bytes) -> None:
        if len(body) < 34:
            raise _Stop("ClientHello cut short")
        random = body[2:34]
        if self.client_random is not None and random != self.client_random:
            raise _Stop("a second ClientHello with another client_random")
        self._client, self.client_random = sender, random

    def _server_hello(self, sender: str, body: bytes, out: list[TlsOutput]) -> None:
        if self.client_random is None or sender == self._client:
            raise _Stop("ServerHello before any ClientHello")
        if len(body) < 35 or len(body) < 35 + body[34] + 2:
            raise _Stop("ServerHello cut short")
        if body[2:34] == HRR_RANDOM:  # HelloRetryRequest: a second ClientHello follows
            return
        sid_end = 35 + body[34]
        code = struct.unpack(">H", body[sid_end:sid_end + 2])[0]
        suite = SUITES.get(code)
        if suite is None:
            raise _Stop(f"cipher suite {code:#06x} is not a TLS 1.3 suite we decrypt")
        secrets = self._key_log.get(self.client_random)
        if secrets is None:
            raise _Stop(f"the key log has no secrets for this session (client_random "
                        f"{self.client_random.hex()})")
        self.suite, self._secrets = suite, secrets
        assert self._client is not None
        server_keys = self._keys(sender, "HANDSHAKE_TRAFFIC_SECRET")
        self._sides.setdefault(sender, _Side()).keys = server_keys
        self._sides.setdefault(self._client, _Side()).keys = self._keys(
            self._client, "HANDSHAKE_TRAFFIC_SECRET")
        out.append(TlsNote(f"TLS 1.3 {suite.name}, decrypted with the key log"))

    def _keys(self, sender: str, what: str) -> TrafficKeys:
        label = ("CLIENT_" if sender == self._client else "SERVER_") + what
        secret = self._secrets.get(label)
        if secret is None or self.suite is None:
            raise _Stop(f"the key log has no {label} for this session")
        return TrafficKeys(self.suite, secret)


def _alert(body: bytes) -> str:
    names = {0: "close_notify", 40: "handshake_failure", 42: "bad_certificate",
             48: "unknown_ca", 51: "decrypt_error", 80: "internal_error"}
    if len(body) < 2:
        return "(cut short)"
    return names.get(body[1], str(body[1]))
