"""Opening the WebSocket to the CSMS: URL, subprotocols, security profiles 1-3.

OCPP-J 3.1: the connection URL is the endpoint plus "/" plus the percent-encoded station
identity; the client offers its versions in order of preference and speaks what the CSMS
picked. Security profile 1 is HTTP basic auth over ws://, 2 is TLS (server verified
against the configured CA) plus basic auth, 3 is TLS with a client certificate.
Failures are classified so the caller can queue the right security event.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from evse.ocpp.schemas import OcppVersion


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """One way to reach the CSMS (a NetworkConnectionProfile slot, B09)."""

    slot: int
    url: str
    security_profile: int
    basic_auth_password: str | None = None
    message_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None


class ConnectFailed(Exception):
    """Could not open an OCPP connection; `security_event` names what to report, if any."""

    def __init__(self, reason: str, security_event: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.security_event = security_event


_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a CSMS endpoint (None when it can): ws:// or wss://, a host
    name or IP address, a port 1-65535, no spaces, no credentials, no fragment. One rule
    for the config file and for SetNetworkProfile (B09), so neither can store a URL the
    next connect would fail on."""
    if not url or len(url) > 2000 or any(c.isspace() or ord(c) < 0x20 for c in url):
        return "must be a URL without spaces (at most 2000 characters)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme not in ("ws", "wss"):
        return "must be a ws:// or wss:// URL"
    host = parts.hostname
    if not host:
        return "has no host"
    if port is not None and not 1 <= port <= 65535:
        return "port must be 1-65535"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (basic auth goes in the header)"
    if parts.fragment:
        return "must not have a fragment"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
            return f"host {host!r} is not a valid host name"
    return None


def _load_problem(load: Callable[[], object], what: str) -> str | None:
    try:
        load()
    except OSError as exc:
        if isinstance(exc, ssl.SSLError):
            return f"{what} ({exc})"
        return f"cannot read: {exc.strerror or exc}"
    except ValueError as exc:
        return f"{what} ({exc})"
    return None


def tls_files_problem(tls: TlsFiles) -> tuple[str, str] | None:
    """(field, reason) for a CA / client certificate / key that OpenSSL will not load.
    Run before anything starts, so a bad file is a config error, not a dead client."""
    checks: list[tuple[str, Path | None, str]] = [
        ("ca_cert", tls.ca_cert, "not a PEM certificate"),
        ("client_cert", tls.client_cert, "not a PEM certificate"),
    ]
    for name, path, what in checks:
        if path is not None:
            verify = ssl.create_default_context().load_verify_locations
            problem = _load_problem(functools.partial(verify, cafile=str(path)), what)
            if problem is not None:
                return name, problem
    if tls.client_key is not None:
        try:
            text = tls.client_key.read_text(encoding="ascii", errors="replace")
        except OSError as exc:
            return "client_key", f"cannot read: {exc.strerror or exc}"
        if "PRIVATE KEY-----" not in text or "ENCRYPTED" in text:
            return "client_key", "not an unencrypted PEM private key"
    if tls.client_cert is not None and tls.client_key is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cert, key = str(tls.client_cert), str(tls.client_key)
        # A password callback that gives nothing: never a prompt on a terminal.
        problem = _load_problem(
            lambda: ctx.load_cert_chain(cert, key, password=lambda: ""),
            "does not load with client_cert",
        )
        if problem is not None:
            return "client_key", problem
    return None


def connection_url(endpoint: str, station_id: str) -> str:
    """OCPP-J 3.1.1: endpoint + '/' + percent-encoded identity ("RDAM|123" -> RDAM%7C123)."""
    return endpoint.rstrip("/") + "/" + quote(station_id, safe="")


def basic_auth_header(station_id: str, password: str) -> str:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def client_ssl_context(profile: NetworkProfile, tls: TlsFiles) -> ssl.SSLContext:
    """TLS 1.2 or newer, CSMS certificate checked against our CA (A00.FR.3xx)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.ca_cert is not None:
        try:
            ctx.load_verify_locations(cafile=str(tls.ca_cert))
        except (ssl.SSLError, OSError) as exc:
            raise ConnectFailed(f"ca_cert does not load: {exc}") from exc
    if profile.security_profile == 3:
        if tls.client_cert is None or tls.client_key is None:
            raise ConnectFailed("security profile 3 needs a client certificate and key")
        try:
            ctx.load_cert_chain(str(tls.client_cert), str(tls.client_key), password=lambda: "")
        except (ssl.SSLError, OSError) as exc:
            raise ConnectFailed(f"client certificate does not load: {exc}") from exc
    return ctx


async def open_connection(
    profile: NetworkProfile,
    station_id: str,
    tls: TlsFiles,
    versions: tuple[OcppVersion, ...],
    ping_interval: float,
    open_timeout: float = 30.0,
) -> tuple[ClientConnection, OcppVersion]:
    """Connect and negotiate; returns the connection and the version the CSMS picked."""
    headers: dict[str, str] = {}
    if profile.security_profile in (1, 2):
        if profile.basic_auth_password is None:
            raise ConnectFailed(f"security profile {profile.security_profile} needs a password")
        headers["Authorization"] = basic_auth_header(station_id, profile.basic_auth_password)
    problem = url_problem(profile.url)
    if problem is not None:
        raise ConnectFailed(f"url {profile.url[:100]!r} {problem}")
    secure = profile.url.startswith("wss://")
    if secure != (profile.security_profile >= 2):
        raise ConnectFailed(f"url {profile.url} does not fit profile {profile.security_profile}")
    ssl_ctx = client_ssl_context(profile, tls) if secure else None
    try:
        conn = await connect(
            connection_url(profile.url, station_id),
            subprotocols=[Subprotocol(str(v)) for v in versions],
            additional_headers=headers,
            ssl=ssl_ctx,
            proxy=None,  # never through an environment proxy: the CSMS URL is the peer
            open_timeout=open_timeout,
            ping_interval=ping_interval if ping_interval > 0 else None,
            ping_timeout=ping_interval if ping_interval > 0 else None,
            max_size=4 * 1024 * 1024,
        )
    except ssl.SSLCertVerificationError as exc:
        raise ConnectFailed(f"CSMS certificate rejected: {exc}", "InvalidCsmsCertificate") from exc
    except ssl.SSLError as exc:
        event = "InvalidTLSVersion" if "VERSION" in str(exc).upper() else "InvalidTLSCipherSuite"
        raise ConnectFailed(f"TLS handshake failed: {exc}", event) from exc
    except InvalidStatus as exc:
        code = exc.response.status_code
        auth_event = "FailedToAuthenticateAtCsms" if code in (401, 403) else None
        raise ConnectFailed(f"CSMS answered HTTP {code}", auth_event) from exc
    except (InvalidHandshake, InvalidURI, OSError, TimeoutError, ValueError) as exc:
        raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
    picked = conn.subprotocol
    if picked is None or picked not in {str(v) for v in versions}:
        # OCPP-J 3.3: no agreed subprotocol means the CSMS will close; so do we.
        await conn.close()
        raise ConnectFailed(f"CSMS did not agree to any of {[str(v) for v in versions]}")
    return conn, OcppVersion(picked)
