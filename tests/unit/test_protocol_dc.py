"""The DC part of the hal contract (additive, version unchanged): `dc_command` and
`dc_report` round-trip; bad fields are refused with a clear error."""

from __future__ import annotations

import cbor2
import pytest

from hal import protocol as p


def test_dc_messages_round_trip_with_defaults() -> None:
    cmd = p.DcCommand(1, "precharge", target_v=400.0)
    assert p.decode_message(p.encode_message(cmd)[4:]) == p.DcCommand(1, "precharge", 400.0, 0.0)
    bare = cbor2.dumps({"type": "dc_command", "evse_id": 1, "kind": "off"})
    assert p.decode_message(bare) == p.DcCommand(1, "off")
    rep = p.DcReport(1, "welding_check", 3.5, 0.0, "unknown", False, welding_v=3.5)
    assert p.decode_message(p.encode_message(rep)[4:]) == rep
    assert p.PROTOCOL_VERSION == 3  # no bump: older messages are unchanged


def test_dc_command_bad_field_is_refused() -> None:
    bad = cbor2.dumps({"type": "dc_command", "evse_id": 1, "kind": "deliver", "target_a": "x"})
    with pytest.raises(p.ProtocolError) as exc:
        p.decode_message(bad)
    assert exc.value.code == p.E_INVALID_FIELD and "target_a" in exc.value.detail
