"""Small pure parts: back-off, config parsing, device model rules, store, URL building."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from evse.ocpp.backoff import ReconnectBackoff
from evse.ocpp.config import parse_ocpp
from evse.ocpp.connection import basic_auth_header, connection_url
from evse.ocpp.device_model import DeviceModel
from evse.ocpp.meter_values import next_aligned
from evse.ocpp.schemas import OcppVersion
from evse.store import Store
from hal.config_reader import ConfigError, Table
from tests.integration.ocpp.ocpp_pki import TestCa


def test_ocppj_5_4_backoff_doubles_up_to_repeat_times_with_random_part() -> None:
    b = ReconnectBackoff(wait_minimum=5, random_range=0, repeat_times=3)
    assert [b.next_delay() for _ in range(6)] == [5, 10, 20, 40, 40, 40]
    b.reset()
    assert b.next_delay() == 5
    r = ReconnectBackoff(wait_minimum=5, random_range=10, repeat_times=2, rng=random.Random(1))
    delays = [r.next_delay() for _ in range(200)]
    assert all(5 <= d <= 15 for d in delays[:1]) and all(20 <= d <= 30 for d in delays[2:])
    assert len({round(d, 3) for d in delays}) > 100  # a fresh random part every time


def test_ocppj_3_1_1_connection_url_and_basic_auth() -> None:
    assert connection_url("wss://csms.example.com/ocppj", "RDAM|123") == (
        "wss://csms.example.com/ocppj/RDAM%7C123"
    )
    assert connection_url("ws://h/ocpp/", "CS001") == "ws://h/ocpp/CS001"
    assert basic_auth_header("CS001", "p") == "Basic Q1MwMDE6cA=="


def parse(data: dict[str, object], tmp_path: Path) -> object:
    return parse_ocpp(Table(data, "ocpp"), tmp_path)


def test_parse_ocpp_reads_a_full_table(tmp_path: Path) -> None:
    TestCa(tmp_path).path.rename(tmp_path / "ca.pem")
    cfg = parse_ocpp(
        Table(
            {
                "csms_url": "wss://csms.example.com/ocpp",
                "station_id": "CS-1",
                "security_profile": 2,
                "basic_auth_password": "0123456789abcdef",
                "ca_cert": "ca.pem",
                "versions": ["2.0.1"],
                "variables": {"OCPPCommCtrlr.HeartbeatInterval": 60},
            },
            "ocpp",
        ),
        tmp_path,
    )
    assert cfg.ca_cert == tmp_path / "ca.pem"
    assert cfg.versions == (OcppVersion.V201,)
    assert cfg.variables == {"OCPPCommCtrlr.HeartbeatInterval": 60}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"station_id": "CS"}, "ocpp.csms_url"),
        ({"csms_url": "http://x", "station_id": "CS"}, "ocpp.csms_url"),
        (
            {"csms_url": "ws://x/o", "station_id": "a:b", "basic_auth_password": "0" * 16},
            "ocpp.station_id",
        ),
        (
            {"csms_url": "wss://x/o", "station_id": "CS", "basic_auth_password": "0" * 16},
            "ocpp.csms_url",
        ),  # profile 1 needs ws://
        ({"csms_url": "ws://x/o", "station_id": "CS"}, "ocpp.basic_auth_password"),
        (
            {"csms_url": "ws://x/o", "station_id": "CS", "basic_auth_password": "short"},
            "ocpp.basic_auth_password",
        ),
        ({"csms_url": "wss://x/o", "station_id": "CS", "security_profile": 3}, "ocpp.client_cert"),
        (
            {
                "csms_url": "wss://x/o",
                "station_id": "CS",
                "security_profile": 2,
                "basic_auth_password": "0" * 16,
                "ca_cert": "missing.pem",
            },
            "ocpp.ca_cert",
        ),
        (
            {
                "csms_url": "ws://x/o",
                "station_id": "CS",
                "basic_auth_password": "0" * 16,
                "versions": ["1.6"],
            },
            "ocpp.versions",
        ),
        (
            {
                "csms_url": "ws://x/o",
                "station_id": "CS",
                "basic_auth_password": "0" * 16,
                "typo": 1,
            },
            "ocpp.typo",
        ),
    ],
)
def test_parse_ocpp_errors_name_the_key(data: dict[str, object], key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(data, tmp_path)
    assert exc.value.key == key


def test_device_model_precedence_validation_and_persistence(tmp_path: Path) -> None:
    store = Store(tmp_path / "dm.db")
    dm = DeviceModel(store, evses=2, seeds={"OCPPCommCtrlr.HeartbeatInterval": 60})
    assert dm.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 60  # seed over default
    slot = dm.lookup({"name": "OCPPCommCtrlr"}, {"name": "HeartbeatInterval"})
    assert not isinstance(slot, str)
    assert dm.set_by_csms(slot, "Actual", "0") == "Rejected"  # below min 1
    assert dm.set_by_csms(slot, "Actual", "90") == "Accepted"
    tx = dm.lookup({"name": "TxCtrlr"}, {"name": "TxStartPoint"})
    assert not isinstance(tx, str)
    assert dm.set_by_csms(tx, "Actual", "EVConnected,Nonsense") == "Rejected"  # MemberList
    assert dm.lookup({"name": "EVSE", "evse": {"id": 2}}, {"name": "Power"}) != "UnknownComponent"
    assert dm.lookup({"name": "EVSE", "evse": {"id": 3}}, {"name": "Power"}) == "UnknownComponent"
    store.close()
    store = Store(tmp_path / "dm.db")
    again = DeviceModel(store, evses=2, seeds={"OCPPCommCtrlr.HeartbeatInterval": 60})
    assert again.get_int("OCPPCommCtrlr", "HeartbeatInterval") == 90  # CSMS value persisted
    with pytest.raises(ConfigError):
        DeviceModel(store, seeds={"NoSuch.Thing": 1})
    with pytest.raises(ConfigError):
        DeviceModel(store, seeds={"OCPPCommCtrlr.QueueAllMessages": "maybe"})
    store.close()


def test_store_seqno_atomic_with_message_and_wal_full(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.queue_append_tx_event("t1", "m0", lambda n: {"seqNo": n}, create=(1, 1))
    with pytest.raises(RuntimeError):

        def boom(n: int) -> dict[str, int]:
            raise RuntimeError("crash while building")

        store.queue_append_tx_event("t1", "m1", boom)
    _, seq_no = store.queue_append_tx_event("t1", "m2", lambda n: {"seqNo": n}, ends=True)
    assert seq_no == 1  # the failed append took no number
    assert [m.payload["seqNo"] for m in store.queue_all()] == [0, 1]
    for m in store.queue_all():
        store.queue_delete(m.seq)
    assert store.tx_all() == []  # ended and delivered: forgotten
    store.close()


def test_next_aligned_instant() -> None:
    assert next_aligned(1000.0, 900) == 800.0
    assert next_aligned(900.0, 900) == 900.0
