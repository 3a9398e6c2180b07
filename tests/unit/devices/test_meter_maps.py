"""Meter register maps: the built-in maps load, plan few reads, decode word/byte order,
scaling and signs; a bad map fails with the key named."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from hal.config_reader import ConfigError
from hal.devices.meters.regmap import builtin_maps, load_map, parse_map
from hal.devices.modbus.plan import plan_reads


def test_builtin_maps() -> None:
    assert builtin_maps() == ["em340", "sdm630", "sdm72dm_v2"]
    for name in builtin_maps():
        mm = load_map(name)
        assert mm.phases == 3 and mm.function == 4
        assert all(count <= 125 for _, count in mm.reads())


def test_sdm630_is_read_in_one_request() -> None:
    assert load_map("sdm630").reads() == [(0x0000, 0x004C)]


def test_em340_reads() -> None:
    assert load_map("em340").reads() == [(0x0000, 0x0036), (0x004E, 2)]


def test_plan_reads_splits_long_and_distant_spans() -> None:
    assert plan_reads([(0, 2), (200, 202)]) == [(0, 2), (200, 2)]
    assert plan_reads([(0, 300)]) == [(0, 125), (125, 125), (250, 50)]
    assert plan_reads([(0, 2), (10, 12)]) == [(0, 12)]
    assert plan_reads([(0, 2), (10, 12)], max_gap=0) == [(0, 2), (10, 2)]


def _em340_words(value: int) -> list[int]:
    """int32, low word first (EM340)."""
    raw = struct.pack(">i", value)
    hi, lo = struct.unpack(">HH", raw)
    return [lo, hi]


def test_em340_low_word_first_scaling_and_sign() -> None:
    mm = load_map("em340")
    regs = [0] * 0x50
    regs[0:2] = _em340_words(2301)  # 230.1 V
    regs[0x0C:0x0E] = _em340_words(-12345)  # wrong-way CT: -12.345 A, decoded as is
    regs[0x12:0x14] = _em340_words(-36000)  # -3600.0 W: export
    regs[0x33] = 500  # 50.0 Hz
    regs[0x34:0x36] = _em340_words(123456)  # 12345.6 kWh
    regs[0x4E:0x50] = _em340_words(70000)  # 7000.0 kWh export
    regs[0x2E] = 0xFC18  # int16 -1000 -> PF -1.0
    r = mm.decode({0: regs})
    assert r.voltage_v[0] == pytest.approx(230.1)
    assert r.current_a[0] == pytest.approx(-12.345)
    assert r.active_w[0] == pytest.approx(-3600.0)
    assert r.frequency_hz == pytest.approx(50.0)
    assert r.import_wh == pytest.approx(12_345_600.0)
    assert r.export_wh == pytest.approx(7_000_000.0)
    assert r.power_factor_phase[0] == pytest.approx(-1.0)


def _map(**regs: dict[str, object]) -> dict[str, object]:
    base: dict[str, object] = {
        "voltage_l1": {"address": 0, "type": "float32"},
        "current_l1": {"address": 2, "type": "float32"},
        "power_l1": {"address": 4, "type": "float32"},
        "frequency": {"address": 6, "type": "float32"},
        "import_energy": {"address": 8, "type": "float32", "unit": "kWh"},
    }
    base.update(regs)
    return {"name": "test", "registers": base}


def test_negative_scale_flips_a_meter_mounted_the_other_way() -> None:
    mm = parse_map(_map(power_l1={"address": 4, "type": "float32", "scale": -1.0}), "t")
    words = [0] * 10
    words[4:6] = struct.unpack(">HH", struct.pack(">f", 1500.0))
    words[6:8] = struct.unpack(">HH", struct.pack(">f", 50.0))
    r = mm.decode({0: words})
    assert mm.phases == 1
    assert r.active_w == (-1500.0,)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"voltage_l4": {"address": 20, "type": "float32"}}, "t.registers.voltage_l4"),
        ({"frequency": {"address": 6, "type": "float16"}}, "t.registers.frequency.type"),
        (
            {"frequency": {"address": 6, "type": "float32", "unit": "kHz"}},
            "t.registers.frequency.unit",
        ),
        ({"power_l1": {"address": 4, "type": "float32", "scale": 0}}, "t.registers.power_l1.scale"),
        (
            {"power_l1": {"address": 4, "type": "float32", "offset": 3}},
            "t.registers.power_l1.offset",
        ),
        ({"voltage_l2": {"address": 20, "type": "float32"}}, "t.registers.current_l2"),
    ],
)
def test_bad_map_names_the_key(change: dict[str, dict[str, object]], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_map(_map(**change), "t")
    assert err.value.key == key


def test_missing_required_register() -> None:
    data = _map()
    regs = data["registers"]
    assert isinstance(regs, dict)
    del regs["import_energy"]
    with pytest.raises(ConfigError, match=r"t\.registers\.import_energy"):
        parse_map(data, "t")


def test_map_file_by_path(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        'name = "mine"\nfunction = 3\n[registers]\n'
        'voltage_l1 = { address = 0, type = "uint16", scale = 0.1 }\n'
        'current_l1 = { address = 1, type = "int16", scale = 0.01 }\n'
        'power_l1 = { address = 2, type = "int32", unit = "kW", scale = 0.001 }\n'
        'frequency = { address = 4, type = "uint16", scale = 0.01 }\n'
        'import_energy = { address = 5, type = "uint32", unit = "Wh" }\n'
    )
    mm = load_map("mine.toml", tmp_path)
    assert mm.function == 3
    r = mm.decode({0: [2300, 0xFFFF, 0xFFFF, 0xFC18, 5000, 0, 99]})
    assert r.voltage_v == (230.0,)
    assert r.current_a == (-0.01,)
    assert r.active_w == (pytest.approx(-1000.0),)  # int32 -1000 * 0.001 kW = -1 kW
    assert r.import_wh == 99.0
    with pytest.raises(ConfigError, match="neither a built-in map"):
        load_map("nothere", tmp_path)
    (tmp_path / "bad.toml").write_text("name = ")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_map("bad.toml", tmp_path)
