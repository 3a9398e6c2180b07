"""Opening the WebSocket to the CSMS: URL, subprotocols, security profiles 1-3.

OCPP-J 3.1: the connection URL is the endpoint plus "/" plus the percent-encoded station
identity; the client offers its versions in order of preference and speaks what the CSMS
picked. Security profile 1 is HTTP basic auth over ws://, 2 is TLS (server verified
against the configured CA) plus basic auth, 3 is TLS with a client certificate.
Failures are classified so the caller can queue the right security event.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus
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
        ctx.load_verify_locations(cafile=str(tls.ca_cert))
    if profile.security_profile == 3:
        if tls.client_cert is None or tls.client_key is None:
            raise ConnectFailed("security profile 3 needs a client certificate and key")
        ctx.load_cert_chain(str(tls.client_cert), str(tls.client_key))
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
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
    picked = conn.subprotocol
    if picked is None or picked not in {str(v) for v in versions}:
        # OCPP-J 3.3: no agreed subprotocol means the CSMS will close; so do we.
        await conn.close()
        raise ConnectFailed(f"CSMS did not agree to any of {[str(v) for v in versions]}")
    return conn, OcppVersion(picked)
