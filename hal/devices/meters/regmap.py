"""Meter register maps: loading and validating `hal/devices/meters/*.toml`, and decoding
registers into a `MeterReading` (pure: registers in, reading out).

A map names the Modbus function, word and byte order, and for each quantity its register
address, data type, scale and unit. Units are converted to the base unit of the quantity
(V, A, W, var, Hz, Wh). A negative scale flips a meter mounted the other way round: hal's
sign convention is + = import (charging). Errors name the map file and key.
"""

from __future__ import annotations

import math
import struct
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hal.config_reader import ConfigError, Table
from hal.devices.base import MeterReading
from hal.devices.modbus.plan import plan_reads

# quantity -> base unit; the phase quantities take _l1/_l2/_l3 suffixes.
PHASE_QUANTITIES = {"voltage": "V", "current": "A", "power": "W", "reactive": "var", "pf": ""}
TOTAL_QUANTITIES = {
    "power_total": "W",
    "reactive_total": "var",
    "pf_total": "",
    "frequency": "Hz",
    "import_energy": "Wh",
    "export_energy": "Wh",
}
UNIT_FACTORS = {
    "V": {"V": 1.0, "kV": 1000.0},
    "A": {"A": 1.0, "mA": 0.001},
    "W": {"W": 1.0, "kW": 1000.0},
    "var": {"var": 1.0, "kvar": 1000.0},
    "Hz": {"Hz": 1.0},
    "Wh": {"Wh": 1.0, "kWh": 1000.0},
    "": {"": 1.0},
}
TYPES = {
    "float32": ("f", 2),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "float64": ("d", 4),
}
REQUIRED = ("voltage_l1", "current_l1", "power_l1", "frequency", "import_energy")


@dataclass(frozen=True, slots=True)
class Register:
    name: str
    address: int
    type: str
    factor: float  # scale x unit factor: raw value * factor = base unit

    @property
    def size(self) -> int:
        return TYPES[self.type][1]


@dataclass(frozen=True, slots=True)
class MeterMap:
    name: str
    model: str
    function: int  # 3 holding or 4 input registers
    word_order: str  # "big": high word first
    byte_order: str  # "big": high byte first within a register (Modbus standard)
    registers: dict[str, Register]
    phases: int  # how many of L1..L3 the map defines

    def reads(self) -> list[tuple[int, int]]:
        """Blocks (address, count) covering every register: few requests, <= 125 each."""
        return plan_reads((r.address, r.address + r.size) for r in self.registers.values())

    def value(self, reg: Register, words: list[int]) -> float:
        if self.word_order == "little":
            words = words[::-1]
        raw = b"".join(w.to_bytes(2, self.byte_order) for w in words)  # type: ignore[arg-type]
        (v,) = struct.unpack(">" + TYPES[reg.type][0], raw)
        return float(v) * reg.factor

    def decode(self, blocks: dict[int, list[int]]) -> MeterReading:
        """`blocks`: start address -> registers read there (as planned by `reads`)."""
        vals: dict[str, float] = {}
        for reg in self.registers.values():
            for start, regs in blocks.items():
                off = reg.address - start
                if off >= 0 and off + reg.size <= len(regs):
                    vals[reg.name] = self.value(reg, regs[off : off + reg.size])
                    break
            else:
                raise ValueError(f"register {reg.name} at {reg.address} was not read")
        return reading_from_values(vals, self.phases)


def _phase(vals: dict[str, float], q: str, n: int) -> tuple[float, ...]:
    return tuple(vals.get(f"{q}_l{i}", math.nan) for i in range(1, n + 1))


def reading_from_values(vals: dict[str, float], phases: int) -> MeterReading:
    power = _phase(vals, "power", phases)
    reactive = _phase(vals, "reactive", phases)
    pf = _phase(vals, "pf", phases)
    total_q = vals.get("reactive_total", sum(reactive) if "reactive_l1" in vals else 0.0)
    total_pf = vals.get("pf_total", pf[0] if "pf_l1" in vals else 1.0)
    return MeterReading(
        voltage_v=_phase(vals, "voltage", phases),
        current_a=_phase(vals, "current", phases),
        active_w=power,
        reactive_var=total_q,
        power_factor=total_pf,
        frequency_hz=vals["frequency"],
        import_wh=vals["import_energy"],
        export_wh=vals.get("export_energy", 0.0),
        reactive_var_phase=reactive if "reactive_l1" in vals else (),
        power_factor_phase=pf if "pf_l1" in vals else (),
    )


def _quantity_unit(name: str) -> str | None:
    if name in TOTAL_QUANTITIES:
        return TOTAL_QUANTITIES[name]
    q, _, ph = name.rpartition("_")
    if q in PHASE_QUANTITIES and ph in ("l1", "l2", "l3"):
        return PHASE_QUANTITIES[q]
    return None


def parse_map(data: dict[str, Any], source: str) -> MeterMap:
    root = Table(data, source)
    fn = root.get_int("function", 4)
    if fn not in (3, 4):
        raise ConfigError(root.key("function"), fn, "must be 3 (holding) or 4 (input)")
    word_order = root.choice("word_order", ("big", "little"), "big")
    byte_order = root.choice("byte_order", ("big", "little"), "big")
    regs_t = root.table("registers", required=True)
    registers: dict[str, Register] = {}
    for name in list(data["registers"]):  # a mapping: root.table checked it
        base = _quantity_unit(name)
        t = regs_t.table(name, required=True)
        if base is None:
            raise ConfigError(t.path, name, "unknown quantity")
        typ = t.choice("type", TYPES)
        unit = t.choice("unit", UNIT_FACTORS[base], base)
        scale = t.get_float("scale", 1.0)
        if scale == 0.0:
            raise ConfigError(t.key("scale"), scale, "must not be 0")
        registers[name] = Register(
            name, t.get_int("address", lo=0, hi=65535), typ, scale * UNIT_FACTORS[base][unit]
        )
        t.reject_unknown()
    for name in REQUIRED:
        if name not in registers:
            raise ConfigError(regs_t.key(name), None, "required register is missing")
    phases = 3 if "voltage_l3" in registers else (2 if "voltage_l2" in registers else 1)
    for q in ("voltage", "current", "power"):
        for i in range(1, phases + 1):
            if f"{q}_l{i}" not in registers:
                raise ConfigError(regs_t.key(f"{q}_l{i}"), None, f"needed for {phases} phases")
    mm = MeterMap(
        root.get_str("name"),
        root.get_str("model", ""),
        fn,
        word_order,
        byte_order,
        registers,
        phases,
    )
    root.reject_unknown()
    return mm


def builtin_maps() -> list[str]:
    return sorted(
        p.name.removesuffix(".toml")
        for p in resources.files(__package__).iterdir()
        if p.name.endswith(".toml")
    )


def load_map(name_or_path: str, base_dir: Path | None = None) -> MeterMap:
    """A built-in map by name (`sdm630`) or a map file by path (relative to `base_dir`)."""
    if name_or_path in builtin_maps():
        text = (resources.files(__package__) / f"{name_or_path}.toml").read_text()
        source = f"meter map {name_or_path}"
    else:
        path = Path(name_or_path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if path.suffix != ".toml" or not path.is_file():
            raise ConfigError(
                "map",
                name_or_path,
                f"neither a built-in map ({', '.join(builtin_maps())}) nor a .toml file",
            )
        text = path.read_text()
        source = f"meter map {path}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, name_or_path, f"invalid TOML: {exc}") from exc
    return parse_map(data, source)
