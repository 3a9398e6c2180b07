"""Connection: version negotiation, security profiles 1-3 with a test PKI, reconnects."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ocpp_pki import TestCa, server_context
from ocpp_support import PASSWORD, eventually, running_station

from evse.ocpp.schemas import OcppVersion
from tests.conftest import WAIT_S


def negotiated(
    tmp_path: Path, csms_versions: tuple[str, ...], station_versions: tuple[OcppVersion, ...]
) -> str:
    async def scenario() -> str:
        async with running_station(
            tmp_path, {"versions": csms_versions}, versions=station_versions
        ) as r:
            await r.csms.wait_until(lambda: len(r.csms.of("StatusNotification")) == 1)
            assert r.csms.errors_sent == []
            assert r.station.version is not None
            assert {x.version for x in r.csms.received} == {str(r.station.version)}
            return str(r.station.version)

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("csms", "station", "expected"),
    [
        (("ocpp2.1", "ocpp2.0.1"), (OcppVersion.V21, OcppVersion.V201), "ocpp2.1"),
        (("ocpp2.0.1",), (OcppVersion.V21, OcppVersion.V201), "ocpp2.0.1"),  # CSMS is 2.0.1
        (("ocpp2.1", "ocpp2.0.1"), (OcppVersion.V201,), "ocpp2.0.1"),  # station offers 2.0.1
        (("ocpp2.0.1", "ocpp2.1"), (OcppVersion.V21, OcppVersion.V201), "ocpp2.0.1"),
    ],
)
def test_ocppj_3_1_2_version_negotiation_both_ways(
    tmp_path: Path, csms: tuple[str, ...], station: tuple[OcppVersion, ...], expected: str
) -> None:
    assert negotiated(tmp_path, csms, station) == expected


def test_ocppj_3_3_no_common_version_means_no_session(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path, {"versions": ("ocpp1.6",)}, wait_connected=False) as r:
            await r.csms.wait_until(lambda: r.csms.connections >= 2)
            assert r.csms.received == []
            assert not r.station.connected.is_set()

    asyncio.run(scenario())


def security_events(station: Any) -> list[str]:
    return [
        m.payload["type"]
        for m in station.store.queue_all()
        if m.action == "SecurityEventNotification"
    ]


def test_profile1_wrong_password_queues_failed_to_authenticate(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(
            tmp_path, {"passwords": {"CS001": "another-password-16"}}, wait_connected=False
        ) as r:
            await eventually(lambda: "FailedToAuthenticateAtCsms" in security_events(r.station))
            assert r.csms.received == []

    asyncio.run(scenario())


def tls_run(
    tmp_path: Path,
    profile: int,
    server_expired: bool = False,
    station_trusts_other_ca: bool = False,
) -> tuple[bool, list[str]]:
    ca = TestCa(tmp_path / "pki")
    server = ca.issue("csms", server=True, expired=server_expired)
    client = ca.issue("CS001", server=False)
    trusted = TestCa(tmp_path / "other", "Other CA").path if station_trusts_other_ca else ca.path
    ctx = server_context(server, client_ca=ca.path if profile == 3 else None)

    async def scenario() -> tuple[bool, list[str]]:
        changes: dict[str, Any] = {"security_profile": profile, "ca_cert": trusted}
        if profile == 3:
            changes.update(client_cert=client.cert, client_key=client.key, basic_auth_password=None)
        # Profile 3 authenticates by client certificate only: no basic-auth header.
        passwords = {} if profile == 3 else {"CS001": PASSWORD}
        async with running_station(
            tmp_path,
            {"ssl_context": ctx, "passwords": passwords},
            wait_connected=False,
            **changes,
        ) as r:
            await eventually(
                lambda: (
                    r.station.connected.is_set()
                    or "InvalidCsmsCertificate" in security_events(r.station)
                ),
                WAIT_S,
            )
            ok = r.station.connected.is_set()
            return ok, security_events(r.station)

    return asyncio.run(scenario())


@pytest.mark.parametrize("profile", [2, 3])
def test_a00_tls_profiles_connect_with_the_right_pki(tmp_path: Path, profile: int) -> None:
    ok, events = tls_run(tmp_path, profile)
    assert ok and "InvalidCsmsCertificate" not in events


def test_a00_wrong_ca_is_refused_with_a_security_event(tmp_path: Path) -> None:
    ok, events = tls_run(tmp_path, 2, station_trusts_other_ca=True)
    assert not ok and "InvalidCsmsCertificate" in events


def test_a00_expired_csms_certificate_is_refused_with_a_security_event(tmp_path: Path) -> None:
    ok, events = tls_run(tmp_path, 2, server_expired=True)
    assert not ok and "InvalidCsmsCertificate" in events


def test_ocppj_5_4_reconnect_without_second_boot(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_station(tmp_path) as r:
            await r.csms.wait_until(lambda: len(r.csms.of("StatusNotification")) == 1)
            await r.csms.drop("CS001")
            await r.csms.wait_until(lambda: r.csms.connections == 2 and "CS001" in r.csms.stations)
            await asyncio.wait_for(r.station.connected.wait(), WAIT_S)
            assert len(r.csms.of("BootNotification")) == 1

    asyncio.run(scenario())
