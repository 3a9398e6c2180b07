"""A simulated SunSpec DER inverter (models 1, 701-713) fed by the SimWorld's power stage.

The register image is laid out from the SunSpec model definitions at 40000. Reads of
model 701 are refreshed from the simulated stage; writes are checked the way an inverter
checks them (read-only registers -> exception 2, a setpoint beyond the rating ->
exception 3) and the 704 active/reactive setpoints drive the simulated stage. Everything
else written (enter service, curves, droop, trips) stays in the image for tests to read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from hal.devices.sunspec.models import END_ID, SUNS, Layout, decode_raw, encode_raw, load_model
from hal.sim.transports.faults import LineFaults
from hal.sim.world import SimWorld

BASE = 40000
MODELS = (1, 701, 702, 703, 704, 705, 706, 707, 708, 709, 710, 711, 712, 713)
COUNTS = {"NPt": 5, "NCrv": 1, "NCrvSet": 1, "NCtl": 1}
INV_RUNNING, INV_FAULT, INV_STANDBY = 3, 6, 7


class SimInverterDevice:
    def __init__(
        self,
        world: SimWorld,
        evse_id: int,
        faults: LineFaults,
        clock: Callable[[], float] = time.monotonic,
        device_id: int = 1,
    ) -> None:
        self._world = world
        self._ev = world.evses[evse_id]
        self._clock = clock
        self.faults = faults
        # Fault injection: writes into these models answer this many seconds late (an
        # inverter slow to store settings, while it answers state reads at once).
        self.slow_writes: dict[int, float] = {}
        self.write_attempts: dict[int, int] = {}  # model id -> writes received
        self.layouts: dict[int, Layout] = {}
        self.addr: dict[int, int] = {}  # model id -> address of its ID register
        self.image: list[int] = []
        self.factory_reset()
        self._writable = self._writable_offsets()
        self.device = SimDevice(
            device_id,
            simdata=(
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(BASE, count=len(self.image), values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )

    def factory_reset(self) -> None:
        """The register image as shipped: every setting written so far is gone."""
        self.image = list(SUNS)
        for mid in MODELS:
            lay = Layout(mid, load_model(mid), lambda name: COUNTS[name])
            self.layouts[mid] = lay
            self.addr[mid] = BASE + len(self.image)
            self.image += [mid, lay.length - 2] + [0] * (lay.length - 2)
        self.image += [END_ID, 0]
        self._init_static()

    # -- image access (raw values, before scale factors) -----------------------------------
    def put(self, model: int, path: str, raw: int | float | str) -> None:
        loc = self.layouts[model].points[path]
        at = self.addr[model] - BASE + loc.offset
        self.image[at : at + loc.point.size] = encode_raw(loc.point, raw)

    def get(self, model: int, path: str) -> int | float | str | None:
        loc = self.layouts[model].points[path]
        at = self.addr[model] - BASE + loc.offset
        return decode_raw(loc.point, self.image[at : at + loc.point.size])

    def scaled(self, model: int, path: str) -> float:
        """A point's value in engineering units (tests read what the driver wrote)."""
        raw = self.get(model, path)
        sf_name = self.layouts[model].sf_path(path)
        sf = self.get(model, sf_name) if sf_name else 0
        assert isinstance(raw, int | float) and isinstance(sf, int)
        return raw * 10.0**sf

    def _writable_offsets(self) -> set[int]:
        out: set[int] = set()
        for mid, lay in self.layouts.items():
            for loc in lay.points.values():
                if loc.point.writable:
                    start = self.addr[mid] + loc.offset
                    out.update(range(start, start + loc.point.size))
        return out

    def _init_static(self) -> None:
        r = self._ev.stage.model.rating
        wmax = max(r.max_charge_w, r.max_discharge_w, 1.0)
        self.w_sf = 0 if wmax <= 32767 else 1 if wmax <= 327670 else 2
        common: dict[str, int | str] = {
            "Mn": "evse-stack",
            "Md": "sim-inverter",
            "SN": "SIM0001",
            "Vr": "1.0",
            "DA": 1,
        }
        for path, text in common.items():
            self.put(1, path, text)
        for path, n in {
            "ACType": 2 if self._ev.unit.phases == 3 else 0,
            "W_SF": self.w_sf,
            "Var_SF": self.w_sf,
            "VA_SF": self.w_sf,
            "PF_SF": -3,
            "A_SF": -2,
            "V_SF": -1,
            "Hz_SF": -3,
            "TotWh_SF": 0,
            "TotVarh_SF": 0,
            "Tmp_SF": -1,
            "St": 1,
        }.items():
            self.put(701, path, n)
        scale = 10.0**self.w_sf
        for path, v in {
            "W_SF": self.w_sf,
            "VA_SF": self.w_sf,
            "Var_SF": self.w_sf,
            "PF_SF": -3,
            "V_SF": 0,
            "A_SF": -1,
            "S_SF": 0,
            "WMaxRtg": wmax / scale,
            "WChaRteMaxRtg": r.max_charge_w / scale,
            "WDisChaRteMaxRtg": r.max_discharge_w / scale,
            "VarMaxInjRtg": r.max_var / scale,
            "VarMaxAbsRtg": r.max_var / scale,
            "VAMaxRtg": wmax / scale,
            "VNomRtg": 230,
        }.items():
            self.put(702, path, v)
        for path, v in {"V_SF": -1, "Hz_SF": -2}.items():
            self.put(703, path, v)
        for path, v in {
            "PF_SF": -3,
            "WMaxLimPct_SF": -1,
            "WSet_SF": 0,
            "WSetPct_SF": -1,
            "VarSet_SF": 0,
            "VarSetPct_SF": -1,
        }.items():
            self.put(704, path, v)
        for mid in (705, 706, 712):
            self.put(mid, "NPt", COUNTS["NPt"])
            self.put(mid, "NCrv", COUNTS["NCrv"])
            self.put(mid, "DeptRef_SF", -1)
        for mid in (705, 706):
            self.put(mid, "V_SF", -1)
            self.put(mid, "RspTms_SF", 0)
        self.put(712, "W_SF", -1)
        for mid in (707, 708, 709, 710):
            self.put(mid, "NPt", COUNTS["NPt"])
            self.put(mid, "NCrvSet", COUNTS["NCrvSet"])
            self.put(mid, "Tms_SF", -2)
            self.put(mid, "V_SF" if mid in (707, 708) else "Hz_SF", -1 if mid < 709 else -2)
        for path, v in {"NCtl": 1, "Db_SF": -3, "K_SF": -3, "RspTms_SF": -1}.items():
            self.put(711, path, v)
        for path, v in {
            "WH_SF": 1,
            "Pct_SF": -1,
            "WHRtg": 6000,
            "WHAvail": 3000,
            "SoC": 500,
            "SoH": 1000,
        }.items():
            self.put(713, path, v)

    def _refresh_701(self) -> None:
        sample = self._world.advance(self._clock())
        st = self._ev.stage
        scale = 10.0**self.w_sf
        inv = INV_FAULT if st.faults else INV_RUNNING if st.enabled else INV_STANDBY
        vals: dict[str, int | float] = {
            "W": -st.active_w / scale,
            "Var": st.reactive_var / scale,
            "VA": abs(complex(st.active_w, st.reactive_var)) / scale,
            "Hz": sample.frequency_hz * 1000,
            "LNV": sample.voltage_v[0] * 10,
            "InvSt": inv,
            "ConnSt": 1 if st.enabled else 0,
            "TotWhAbs": self._ev.meter.import_wh,
            "TotWhInj": self._ev.meter.export_wh,
        }
        for i, v in enumerate(sample.voltage_v[:3], start=1):
            vals[f"VL{i}"] = v * 10
        for path, v in vals.items():
            self.put(701, path, v)

    # -- the Modbus side ------------------------------------------------------------------
    async def _action(
        self,
        fc: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if (exc := await self.faults.modbus_prologue()) is not None:
            return exc
        if values is not None:
            model = self._model_at(address)
            self.write_attempts[model] = self.write_attempts.get(model, 0) + 1
            if self.slow_writes.get(model, 0.0) > 0.0:
                await asyncio.sleep(self.slow_writes[model])
        if values is None:
            if fc == 3:
                self._refresh_701()
                off = address - start
                registers[off : off + count] = self.image[address - BASE : address - BASE + count]
            return None
        words = [int(v) for v in values]
        if any(a not in self._writable for a in range(address, address + len(words))):
            return ExcCodes.ILLEGAL_ADDRESS
        before = list(self.image)
        self.image[address - BASE : address - BASE + len(words)] = words
        if not self._accept():
            self.image = before
            return ExcCodes.ILLEGAL_VALUE
        return None

    def _model_at(self, address: int) -> int:
        found = 0
        for mid, start in self.addr.items():
            if start <= address < start + self.layouts[mid].length:
                found = mid
        return found

    def _accept(self) -> bool:
        """Apply the image after a write; False (and the caller rolls back) if invalid."""
        r = self._ev.stage.model.rating
        stage = self._ev.stage
        w_on = self.get(704, "WSetEna") == 1 and self.get(704, "WSetMod") == 1
        w = -self.scaled(704, "WSet") if w_on else 0.0
        q_on = self.get(704, "VarSetEna") == 1 and self.get(704, "VarSetMod") == 4
        q = self.scaled(704, "VarSet") if q_on else 0.0
        if not (-r.max_discharge_w <= w <= r.max_charge_w) or abs(q) > r.max_var:
            return False
        stage.command(w, q)
        for mid in (705, 706, 707, 708, 709, 710, 712):
            if self.get(mid, "AdptCrvReq"):
                self.put(mid, "AdptCrvRslt", 1)  # COMPLETED
        if self.get(711, "AdptCtlReq"):
            self.put(711, "AdptCtlRslt", 1)
        return True
