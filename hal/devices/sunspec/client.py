"""SunSpec over a ModbusLink: discovery of the model chain, reading and writing points.

Discovery looks for the "SunS" marker at the usual base addresses, then walks the
(ID, L) headers to the end marker 0xFFFF. For each model we use, the whole block is read
once to learn its repeat counts and build its `Layout`; later reads fetch only the
registers asked for, writes merge adjacent registers into one request.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.devices.base import DeviceError
from hal.devices.modbus.link import ModbusLink, ModbusRequestError
from hal.devices.modbus.plan import plan_reads
from hal.devices.sunspec.models import (
    END_ID,
    SUNS,
    SUPPORTED,
    Layout,
    Value,
    apply_scale,
    decode_block,
    decode_raw_block,
    encode_raw,
    encode_scaled,
    load_model,
)

BASE_ADDRESSES = (40000, 0, 50000)
MAX_MODELS = 64  # a chain longer than this is garbage, not an inverter


@dataclass(frozen=True, slots=True)
class ModelBlock:
    model_id: int
    address: int  # of the ID register
    length: int  # L: registers after ID and L
    layout: Layout
    static_sf: dict[str, Value]  # static scale factors, read once at discovery


class SunSpecClient:
    def __init__(
        self, name: str, link: ModbusLink, device_id: int, bases: tuple[int, ...] = BASE_ADDRESSES
    ) -> None:
        self.name = name
        self.link = link
        self.device_id = device_id
        self.bases = bases
        self.models: dict[int, ModelBlock] = {}
        self.chain: list[tuple[int, int, int]] = []  # (id, address, length), all models
        self.discovered = False
        self._base: int | None = None
        self._next = 0
        self._chain_done = False

    async def _read(self, address: int, count: int) -> list[int]:
        out: list[int] = []
        for addr, n in plan_reads([(address, address + count)]):
            out += await self.link.read(self.name, self.device_id, 3, addr, n)
        return out

    async def discover(self) -> None:
        """Find and load the models. Resumable: if a call is cut short (a timeout of the
        control loop), the next call continues where it stopped instead of starting over,
        so discovery completes even when each attempt has only a short time budget."""
        if self._base is None:
            self._base = await self._find_base()
            self._next = self._base + 2
        while not self._chain_done:
            if len(self.chain) >= MAX_MODELS:
                raise DeviceError(self.name, f"no SunSpec end marker after {MAX_MODELS} models")
            model_id, length = await self._read(self._next, 2)
            if model_id == END_ID:
                self._chain_done = True
                break
            self.chain.append((model_id, self._next, length))
            self._next += 2 + length
        for model_id, address, length in self.chain:
            if model_id in SUPPORTED and model_id not in self.models:
                self.models[model_id] = await self._load(model_id, address, length)
        self.discovered = True

    def forget(self) -> None:
        """Discover again on next use (the device's register map may have changed)."""
        self._base = None
        self._next = 0
        self._chain_done = False
        self.chain = []
        self.models = {}
        self.discovered = False

    async def _find_base(self) -> int:
        for base in self.bases:
            try:
                if tuple(await self._read(base, 2)) == SUNS:
                    return base
            except ModbusRequestError:
                continue  # illegal address: the map starts elsewhere
        raise DeviceError(self.name, f"no SunSpec marker at {', '.join(map(str, self.bases))}")

    async def _load(self, model_id: int, address: int, length: int) -> ModelBlock:
        top = load_model(model_id)
        regs = await self._read(address, length + 2)
        fixed = decode_block(Layout.fixed(model_id, top), regs)

        def count_of(point: str) -> int:
            v = fixed.get(point)
            return int(v) if isinstance(v, int | float) else 0

        layout = Layout(model_id, top, count_of)
        if layout.length != length + 2:
            raise DeviceError(
                self.name,
                f"model {model_id}: length {length} does not match "
                f"its definition ({layout.length - 2})",
            )
        static_sf = {
            path: v
            for path, v in fixed.items()
            if layout.points[path].point.type == "sunssf" and layout.points[path].point.static
        }
        return ModelBlock(model_id, address, length, layout, static_sf)

    def block(self, model_id: int) -> ModelBlock:
        if model_id not in self.models:
            raise DeviceError(self.name, f"inverter has no SunSpec model {model_id}")
        return self.models[model_id]

    async def read_points(
        self, model_id: int, paths: list[str], lane: str = "control"
    ) -> dict[str, Value]:
        """Scaled values of `paths` (their scale factors are read along). `lane`: see
        ModbusLink (a protection push uses "settings")."""
        b = self.block(model_id)
        lay = b.layout
        # Static scale factors come from discovery: one request less per read.
        wanted = set(paths) | {
            sf for p in paths if (sf := lay.sf_path(p)) is not None and sf not in b.static_sf
        }
        spans = [
            (lay.points[p].offset, lay.points[p].offset + lay.points[p].point.size) for p in wanted
        ]
        raw: dict[str, Value] = dict(b.static_sf)
        for off, count in plan_reads(spans):
            regs = await self.link.read(self.name, self.device_id, 3, b.address + off, count, lane)
            raw.update(decode_raw_block(lay, regs, off))
        values = apply_scale(lay, raw)
        return {p: values.get(p) for p in paths}

    async def write_points(
        self, model_id: int, values: dict[str, float | int], lane: str = "control"
    ) -> None:
        """Write points in engineering units; adjacent registers go in one request."""
        b = self.block(model_id)
        lay = b.layout
        sfs = [s for p in values if (s := lay.sf_path(p)) is not None]
        sf_vals = await self.read_points(model_id, sorted(set(sfs)), lane) if sfs else {}
        regs: dict[int, int] = {}
        for path, value in values.items():
            if path not in lay.points:
                raise ValueError(f"model {model_id} has no point {path!r}")
            loc = lay.points[path]
            if not loc.point.writable:
                raise ValueError(f"model {model_id} point {path!r} is read-only")
            sf_path = lay.sf_path(path)
            if sf_path is None:
                words = encode_raw(loc.point, value)
            else:
                sf = sf_vals.get(sf_path)
                if not isinstance(sf, int | float):
                    raise DeviceError(
                        self.name, f"model {model_id}: scale factor {sf_path} not implemented"
                    )
                words = encode_scaled(loc.point, float(value), round(sf))
            for i, w in enumerate(words):
                regs[loc.offset + i] = w
        for off, count in plan_reads([(o, o + 1) for o in regs], max_gap=0):
            words = [regs[o] for o in range(off, off + count)]
            await self.link.write(self.name, self.device_id, b.address + off, words, lane)
