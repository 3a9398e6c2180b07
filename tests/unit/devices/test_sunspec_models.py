"""SunSpec model definitions (from pysunspec2's JSON) and the register layout and codec."""

from __future__ import annotations

import pytest

from hal.devices.sunspec.models import (
    Layout,
    PointDef,
    apply_scale,
    decode_block,
    decode_raw,
    decode_raw_block,
    encode_raw,
    encode_scaled,
    load_model,
)


@pytest.mark.parametrize(
    ("model_id", "counts", "length"),
    [
        (1, {}, 66),
        (701, {}, 153),
        (702, {}, 50),
        (703, {}, 17),
        (704, {}, 65),
        (713, {}, 7),
        (711, {"NCtl": 1}, 22),
        (707, {"NPt": 5, "NCrvSet": 1}, 56),
        (705, {"NPt": 4, "NCrv": 3}, 67),
    ],
)
def test_model_lengths(model_id: int, counts: dict[str, int], length: int) -> None:
    lay = Layout(model_id, load_model(model_id), lambda n: counts[n])
    assert lay.length - 2 == length


def test_701_offsets_of_the_points_we_read() -> None:
    lay = Layout.fixed(701, load_model(701))
    offsets = {
        p: lay.points[p].offset
        for p in ("ID", "L", "ACType", "St", "InvSt", "ConnSt", "Alrm", "DERMode", "W", "VA", "Var")
    }
    assert offsets == {
        "ID": 0,
        "L": 1,
        "ACType": 2,
        "St": 3,
        "InvSt": 4,
        "ConnSt": 5,
        "Alrm": 6,
        "DERMode": 8,
        "W": 10,
        "VA": 11,
        "Var": 12,
    }
    assert lay.sf_path("W") == "W_SF"


def test_nested_curve_paths() -> None:
    lay = Layout(707, load_model(707), lambda n: {"NPt": 2, "NCrvSet": 2}[n])
    assert "Crv[1].MomCess.Pt[1].Tms" in lay.points
    # Each curve: ReadOnly + 3 x (ActPt + 2 points x (V + Tms(2))) = 1 + 3 * 7 = 22.
    assert (lay.points["Crv[1].ReadOnly"].offset - lay.points["Crv[0].ReadOnly"].offset) == 22


def test_not_implemented_values_decode_to_none() -> None:
    assert decode_raw(PointDef("W", "int16", 1, "W_SF", False, "W"), [0x8000]) is None
    assert decode_raw(PointDef("A", "uint16", 1, None, False, ""), [0xFFFF]) is None
    assert decode_raw(PointDef("E", "acc32", 2, None, False, ""), [0, 0]) == 0
    assert decode_raw(PointDef("S", "string", 4, None, False, ""), [0x4142, 0x4300, 0, 0]) == "ABC"


def test_scale_factor_applied_and_missing_sf_gives_none() -> None:
    lay = Layout.fixed(701, load_model(701))
    regs = [0] * 160
    regs[lay.points["W"].offset] = encode_raw(lay.points["W"].point, -1234)[0]
    regs[lay.points["W_SF"].offset] = encode_raw(lay.points["W_SF"].point, 1)[0]
    regs[lay.points["Var_SF"].offset] = 0x8000  # not implemented
    values = decode_block(lay, regs)
    assert values["W"] == -12340.0
    assert values["Var"] is None
    # Blocks read separately are merged before scaling (SFs sit at the end of 701).
    w_off, sf_off = lay.points["W"].offset, lay.points["W_SF"].offset
    raw = decode_raw_block(lay, regs[w_off : w_off + 1], w_off)
    raw.update(decode_raw_block(lay, regs[sf_off : sf_off + 1], sf_off))
    assert apply_scale(lay, raw)["W"] == -12340.0


def test_encode_roundtrip_with_scale() -> None:
    p = PointDef("Hz", "uint32", 2, "Hz_SF", True, "Hz")
    words = encode_scaled(p, 50.02, -2)
    assert words == [0, 5002]
    assert decode_raw(p, words) == 5002
    assert encode_raw(PointDef("W", "int32", 2, None, True, ""), -5000) == [0xFFFF, 0xEC78]
