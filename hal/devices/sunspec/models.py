"""SunSpec model definitions and register layout (pure).

The definitions are the SunSpec Alliance's JSON models as shipped in the `pysunspec2`
package (we read its data files only; its client is synchronous). A model's layout
depends on its repeat counts (NPt, NCrv, ...), which are points of the model itself, so
`Layout` is built from the definition plus a function that yields those counts.
Offsets are relative to the model start (ID at 0, L at 1, first point at 2).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

SUPPORTED = (1, 701, 702, 703, 704, 705, 706, 707, 708, 709, 710, 711, 712, 713)
SUNS = (0x5375, 0x6E53)  # "SunS" marker before the first model
END_ID = 0xFFFF

# type -> (struct code, registers, "not implemented" raw value)
_TYPES: dict[str, tuple[str, int, int | None]] = {
    "int16": ("h", 1, -0x8000),
    "uint16": ("H", 1, 0xFFFF),
    "count": ("H", 1, 0),
    "acc16": ("H", 1, 0),
    "enum16": ("H", 1, 0xFFFF),
    "bitfield16": ("H", 1, 0xFFFF),
    "sunssf": ("h", 1, -0x8000),
    "int32": ("i", 2, -0x80000000),
    "uint32": ("I", 2, 0xFFFFFFFF),
    "acc32": ("I", 2, 0),
    "enum32": ("I", 2, 0xFFFFFFFF),
    "bitfield32": ("I", 2, 0xFFFFFFFF),
    "int64": ("q", 4, -0x8000000000000000),
    "uint64": ("Q", 4, 0xFFFFFFFFFFFFFFFF),
    "acc64": ("Q", 4, 0),
    "float32": ("f", 2, None),
    "pad": ("H", 1, None),
}

Value = int | float | str | None


@dataclass(frozen=True, slots=True)
class PointDef:
    name: str
    type: str
    size: int
    sf: str | None  # name of the scale-factor point (top-level), if any
    writable: bool
    units: str
    static: bool = False  # "S": never changes while the device runs (scale factors, ratings)


@dataclass(frozen=True, slots=True)
class GroupDef:
    name: str
    count: int | str  # fixed repeat count, or the name of the count point
    points: tuple[PointDef, ...]
    groups: tuple[GroupDef, ...]


def _group(d: dict[str, Any]) -> GroupDef:
    return GroupDef(
        name=d["name"],
        count=d.get("count", 1),
        points=tuple(
            PointDef(
                p["name"],
                p["type"],
                int(p.get("size", 1)),
                p.get("sf"),
                p.get("access", "R") == "RW",
                p.get("units", ""),
                p.get("static") == "S",
            )
            for p in d.get("points", [])
        ),
        groups=tuple(_group(g) for g in d.get("groups", [])),
    )


def load_model(model_id: int) -> GroupDef:
    """The top-level group of SunSpec model `model_id`, from pysunspec2's JSON files."""
    path = resources.files("sunspec2") / "models" / "json" / f"model_{model_id}.json"
    data = json.loads(path.read_text())
    if data.get("id") != model_id:
        raise ValueError(f"model_{model_id}.json holds model {data.get('id')}")
    return _group(data["group"])


@dataclass(frozen=True, slots=True)
class Loc:
    offset: int
    point: PointDef


class Layout:
    """Point path (`W`, `Crv[0].MustTrip.Pt[1].V`) -> offset in the model block."""

    def __init__(self, model_id: int, top: GroupDef, count_of: Callable[[str], int]) -> None:
        self.model_id = model_id
        self.top = top
        self.points: dict[str, Loc] = {}
        self.length = self._walk(top, "", 0, count_of)  # including ID and L

    def _walk(self, g: GroupDef, prefix: str, off: int, count_of: Callable[[str], int]) -> int:
        for p in g.points:
            self.points[prefix + p.name] = Loc(off, p)
            off += p.size
        for sub in g.groups:
            n = count_of(sub.count) if isinstance(sub.count, str) else sub.count
            for i in range(n):
                name = f"{sub.name}[{i}]" if sub.count != 1 else sub.name
                off = self._walk(sub, f"{prefix}{name}.", off, count_of)
        return off

    @staticmethod
    def fixed(model_id: int, top: GroupDef) -> Layout:
        """The top-level points only (their offsets never depend on counts)."""
        return Layout(model_id, top, lambda _name: 0)

    def sf_path(self, path: str) -> str | None:
        sf = self.points[path].point.sf
        return sf if sf is not None and sf in self.points else None


def decode_raw(p: PointDef, regs: list[int]) -> Value:
    if p.type == "string":
        raw = b"".join(r.to_bytes(2, "big") for r in regs)
        return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")
    code, size, missing = _TYPES.get(p.type, ("H", 1, None))
    raw_b = b"".join(r.to_bytes(2, "big") for r in regs[:size])
    (v,) = struct.unpack(">" + code, raw_b)
    if (
        missing is not None
        and v == missing
        and p.type not in ("count", "acc16", "acc32", "acc64", "pad")
    ):
        return None
    return v  # type: ignore[no-any-return]


def encode_raw(p: PointDef, value: int | float | str) -> list[int]:
    if p.type == "string":
        raw = str(value).encode()[: p.size * 2].ljust(p.size * 2, b"\x00")
    else:
        code, _size, _ = _TYPES[p.type]
        v = float(value) if code == "f" else round(float(value))
        raw = struct.pack(">" + code, v)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def decode_raw_block(layout: Layout, regs: list[int], start: int = 0) -> dict[str, Value]:
    """Raw values of every point whose registers lie in `regs` (which begin at model
    offset `start`), before scale factors."""
    raw: dict[str, Value] = {}
    for path, loc in layout.points.items():
        i = loc.offset - start
        if i >= 0 and i + loc.point.size <= len(regs):
            raw[path] = decode_raw(loc.point, regs[i : i + loc.point.size])
    return raw


def apply_scale(layout: Layout, raw: dict[str, Value]) -> dict[str, Value]:
    """value = raw * 10**sf; None where the value or its scale factor is not implemented."""
    out: dict[str, Value] = {}
    for path, v in raw.items():
        sf_path = layout.sf_path(path)
        if sf_path is None or v is None or isinstance(v, str):
            out[path] = v
            continue
        sf = raw.get(sf_path)
        out[path] = None if not isinstance(sf, int) else v * 10.0**sf
    return out


def decode_block(layout: Layout, regs: list[int], start: int = 0) -> dict[str, Value]:
    return apply_scale(layout, decode_raw_block(layout, regs, start))


def encode_scaled(p: PointDef, value: float, sf: int | None) -> list[int]:
    """Registers for a write of `value` in engineering units with scale factor `sf`."""
    return encode_raw(p, value / 10.0**sf if sf else value)
