"""The `PowerStage` driver for a SunSpec DER inverter (models 701-713).

Sign convention: SunSpec counts active power positive when the DER generates (injects
into the grid); hal counts it positive when the car charges. So `W = -active_w` both ways.

Discovery runs on first use (and again after a failure), so hal starts even when the
inverter is still booting; until then `rating` is the EVSE's configured rating, lowered
to what model 702 reports once known.

`push_protection(settings)` writes the inverter's own protection, so it also protects when
hal is gone, and disables what `settings` no longer holds. It travels on the link's
"settings" lane (its own back-off: a slow settings write never fails a state read).
Keys (each optional; a model the inverter lacks is listed in `unsupported`):
  enter_service: {enabled, v_hi_pct, v_lo_pct, hz_hi, hz_lo, delay_s, random_s, ramp_s}  (703)
  trip_lv / trip_hv: {must_trip, may_trip, mom_cess: [[v_pct, t_s], ...]}  (707 / 708)
  trip_lf / trip_hf: {must_trip, may_trip, mom_cess: [[hz, t_s], ...]}  (709 / 710)
  freq_droop: {db_of_hz, db_uf_hz, k_of, k_uf, resp_s, p_min_pct}  (711)
  volt_var: {points: [[v_pct, var_pct], ...], resp_s}  (705)
  volt_watt: {points: [[v_pct, w_pct], ...], resp_s}  (706)
  fixed_pf: {pf, excitation: "over" | "under"}  (704, while injecting)
  w_max_lim_pct: {pct}  (704: active power limit in % of WMax)
"""

from __future__ import annotations

from typing import Any

from hal.devices.base import DeviceError, PowerStageRating, PowerStageState
from hal.devices.modbus.link import ModbusRequestError
from hal.devices.sunspec.client import SunSpecClient

ALARMS = (
    "ground_fault",
    "dc_over_volt",
    "ac_disconnect",
    "dc_disconnect",
    "grid_disconnect",
    "cabinet_open",
    "manual_shutdown",
    "over_temp",
    "over_frequency",
    "under_frequency",
    "ac_over_volt",
    "ac_under_volt",
)
INV_FAULT = 6  # 701 InvSt FAULT
INV_READY = (2, 3, 4, 7)  # STARTING, RUNNING, THROTTLED, STANDBY
TRIP_MODELS = {"trip_lv": 707, "trip_hv": 708, "trip_lf": 709, "trip_hf": 710}
CURVE_MODELS = {"volt_var": (705, "Var"), "volt_watt": (706, "W")}
STATE_POINTS = ["W", "Var", "Hz", "InvSt", "ConnSt", "Alrm"]
_LANE = "settings"  # the push's own Modbus back-off: a slow write never fails a state read
# What disables a setting that is no longer in force (an expired LimitMaxDischarge must
# not stay enabled in the inverter): settings key -> (model, {point: value}).
_DISABLE: dict[str, tuple[int, dict[str, float | int]]] = {
    "w_max_lim_pct": (704, {"WMaxLimPctEna": 0}),
    "fixed_pf": (704, {"PFWInjEna": 0}),
    "freq_droop": (711, {"Ena": 0}),
    "volt_var": (705, {"Ena": 0}),
    "volt_watt": (706, {"Ena": 0}),
    **{k: (m, {"Ena": 0}) for k, m in TRIP_MODELS.items()},
}


class SunSpecPowerStage:
    def __init__(self, name: str, client: SunSpecClient, rating: PowerStageRating) -> None:
        self.name = name
        self.client = client
        self.rating = rating
        self._configured = rating
        self._discovered = False
        self._setpoint_w = 0.0
        self._setpoint_var: float | None = None
        self.unsupported: set[str] = set()

    async def open(self) -> None:
        """Discovery and ratings, outside the control loop's time budget (at start)."""
        await self._ensure()

    async def _ensure(self) -> None:
        if self._discovered:
            return
        if not self.client.discovered:
            await self.client.discover()
        for needed in (701, 704):
            self.client.block(needed)  # raises DeviceError naming the missing model
        if 702 in self.client.models:
            r = await self.client.read_points(
                702, ["WMaxRtg", "WChaRteMaxRtg", "WDisChaRteMaxRtg", "VarMaxInjRtg"]
            )
            c = self._configured
            self.rating = PowerStageRating(
                max_charge_w=_lower(c.max_charge_w, r["WChaRteMaxRtg"] or r["WMaxRtg"]),
                max_discharge_w=_lower(c.max_discharge_w, r["WDisChaRteMaxRtg"] or r["WMaxRtg"]),
                max_var=_lower(c.max_var, r["VarMaxInjRtg"]),
                phases=c.phases,
            )
        self._discovered = True
        self._setpoint_var = None  # rewrite everything after a (re)discovery

    async def _guard(self) -> None:
        try:
            await self._ensure()
        except ModbusRequestError as exc:
            if exc.code == 2:  # illegal address: the map moved (firmware update?)
                self.client.forget()
                self._discovered = False
            raise

    async def set_power(self, active_w: float, reactive_var: float) -> None:
        await self._guard()
        r = self.rating
        w = min(max(active_w, -r.max_discharge_w), r.max_charge_w)
        # WSetEna=ENABLED, WSetMod=WATTS, WSet: one request of adjacent registers.
        await self.client.write_points(704, {"WSetEna": 1, "WSetMod": 1, "WSet": -w})
        self._setpoint_w = w
        if reactive_var != self._setpoint_var:
            q = min(max(reactive_var, -r.max_var), r.max_var)
            await self.client.write_points(704, {"VarSetEna": 1, "VarSetMod": 4, "VarSet": q})
            self._setpoint_var = reactive_var

    async def read_state(self) -> PowerStageState:
        await self._guard()
        v = await self.client.read_points(701, STATE_POINTS)
        if not isinstance(v["W"], float) or not isinstance(v["Var"], float):
            raise DeviceError(self.name, "701 W / Var not implemented (scale factor missing)")
        alarms = int(v["Alrm"] or 0)
        faults = {a for i, a in enumerate(ALARMS) if alarms >> i & 1}
        inv = v["InvSt"]
        if inv == INV_FAULT:
            faults.add("inverter_fault")
        return PowerStageState(
            active_w=0.0 - v["W"],  # generator reference -> hal: + charges the car
            reactive_var=v["Var"],
            setpoint_w=self._setpoint_w,
            ready=inv in INV_READY and not faults,
            faults=frozenset(faults),
        )

    async def storage(self) -> dict[str, float | None]:
        """Model 713 (storage capacity): energy rating and available energy (Wh), state of
        charge and health (%). None where the inverter does not implement a point."""
        await self._guard()
        v = await self.client.read_points(713, ["WHRtg", "WHAvail", "SoC", "SoH"])
        return {k: float(x) if isinstance(x, int | float) else None for k, x in v.items()}

    async def push_protection(self, settings: dict[str, Any]) -> None:
        await self._guard()
        unknown = set(settings) - {
            "enter_service",
            "freq_droop",
            "fixed_pf",
            "w_max_lim_pct",
            *TRIP_MODELS,
            *CURVE_MODELS,
        }
        if unknown:
            raise ValueError(f"unknown protection settings {sorted(unknown)}")
        self.unsupported.clear()
        for key, value in settings.items():
            model = {
                "enter_service": 703,
                "freq_droop": 711,
                "fixed_pf": 704,
                "w_max_lim_pct": 704,
                **TRIP_MODELS,
                **{k: m for k, (m, _) in CURVE_MODELS.items()},
            }[key]
            if model not in self.client.models:
                self.unsupported.add(key)
                continue
            if key == "enter_service":
                await self._enter_service(value)
            elif key == "freq_droop":
                await self._droop(value)
            elif key == "fixed_pf":
                ext = {"over": 0, "under": 1}[value.get("excitation", "over")]
                await self.client.write_points(
                    704, {"PFWInj.PF": value["pf"], "PFWInj.Ext": ext, "PFWInjEna": 1}, lane=_LANE
                )
            elif key == "w_max_lim_pct":
                await self.client.write_points(
                    704, {"WMaxLimPct": value["pct"], "WMaxLimPctEna": 1}, lane=_LANE
                )
            elif key in TRIP_MODELS:
                await self._trip(model, value)
            else:
                await self._curve(model, CURVE_MODELS[key][1], value)
        # What is no longer in force is switched off, not left enabled.
        for key, (model, points) in _DISABLE.items():
            if key not in settings and model in self.client.models:
                await self.client.write_points(model, points, lane=_LANE)

    async def _enter_service(self, s: dict[str, Any]) -> None:
        await self.client.write_points(
            703,
            {
                "ES": 1 if s.get("enabled", True) else 0,
                "ESVHi": s["v_hi_pct"],
                "ESVLo": s["v_lo_pct"],
                "ESHzHi": s["hz_hi"],
                "ESHzLo": s["hz_lo"],
                "ESDlyTms": s.get("delay_s", 0),
                "ESRndTms": s.get("random_s", 0),
                "ESRmpTms": s.get("ramp_s", 0),
            },
            lane=_LANE,
        )

    async def _droop(self, s: dict[str, Any]) -> None:
        await self.client.write_points(
            711,
            {
                "Ctl[0].DbOf": s["db_of_hz"],
                "Ctl[0].DbUf": s["db_uf_hz"],
                "Ctl[0].KOf": s["k_of"],
                "Ctl[0].KUf": s["k_uf"],
                "Ctl[0].RspTms": s["resp_s"],
                "Ctl[0].PMin": s.get("p_min_pct", 0),
            },
            lane=_LANE,
        )
        await self.client.write_points(711, {"AdptCtlReq": 1, "Ena": 1}, lane=_LANE)

    def _curve_count(self, model: int) -> int:
        pts = self.client.block(model).layout.points
        i = 0
        while f"Crv[{i}].ReadOnly" in pts:
            i += 1
        # Curves are read back below; the first RW one (ReadOnly == 0) gets the new points.
        return i

    async def _first_rw_curve(self, model: int) -> tuple[int, int]:
        n = self._curve_count(model)
        flags = await self.client.read_points(
            model, [f"Crv[{i}].ReadOnly" for i in range(n)] + ["NPt"], lane=_LANE
        )
        for i in range(n):
            if flags[f"Crv[{i}].ReadOnly"] == 0:
                return i, int(flags["NPt"] or 0)
        raise DeviceError(self.name, f"model {model}: no writable curve")

    async def _trip(self, model: int, s: dict[str, Any]) -> None:
        crv, npt = await self._first_rw_curve(model)
        axis = "V" if model in (707, 708) else "Hz"
        values: dict[str, float | int] = {}
        for group, key in (
            ("MustTrip", "must_trip"),
            ("MayTrip", "may_trip"),
            ("MomCess", "mom_cess"),
        ):
            pts = s.get(key)
            if pts is None:
                continue
            if len(pts) > npt:
                raise DeviceError(
                    self.name, f"model {model}: {len(pts)} {key} points, the inverter takes {npt}"
                )
            values[f"Crv[{crv}].{group}.ActPt"] = len(pts)
            for j, (x, t) in enumerate(pts):
                values[f"Crv[{crv}].{group}.Pt[{j}].{axis}"] = x
                values[f"Crv[{crv}].{group}.Pt[{j}].Tms"] = t
        await self.client.write_points(model, values, lane=_LANE)
        await self.client.write_points(model, {"AdptCrvReq": crv + 1, "Ena": 1}, lane=_LANE)

    async def _curve(self, model: int, y: str, s: dict[str, Any]) -> None:
        crv, npt = await self._first_rw_curve(model)
        pts = s["points"]
        if len(pts) > npt:
            raise DeviceError(self.name, f"model {model}: {len(pts)} points, max {npt}")
        values: dict[str, float | int] = {f"Crv[{crv}].ActPt": len(pts)}
        for j, (x, yv) in enumerate(pts):
            values[f"Crv[{crv}].Pt[{j}].V"] = x
            values[f"Crv[{crv}].Pt[{j}].{y}"] = yv
        if "resp_s" in s:
            values[f"Crv[{crv}].RspTms"] = s["resp_s"]
        await self.client.write_points(model, values, lane=_LANE)
        await self.client.write_points(model, {"AdptCrvReq": crv + 1, "Ena": 1}, lane=_LANE)

    async def close(self) -> None:
        if self._discovered:
            # Leave the inverter at zero power; its own protection stays in force.
            await self.client.write_points(704, {"WSetEna": 1, "WSetMod": 1, "WSet": 0})


def _lower(configured: float, reported: object) -> float:
    return min(configured, float(reported)) if isinstance(reported, int | float) else configured
