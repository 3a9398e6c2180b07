"""The SunSpec DER driver against the simulated inverter over loopback TCP and RTU on a pty:
discovery finds the models; setpoints and protection settings land in the inverter's
registers (so it protects on its own); its refusals come back as exception codes."""

from __future__ import annotations

import pytest
from devsim_helpers import make_world, run, serve

from hal.devices.base import PowerStageRating
from hal.devices.modbus.link import ModbusLink, ModbusRequestError
from hal.devices.sunspec.client import SunSpecClient
from hal.devices.sunspec.der import SunSpecPowerStage
from hal.sim.transports.faults import LineFaults
from hal.sim.transports.sim_inverter import SimInverterDevice
from hal.sim.world import SimWorld

PROTECTION = {
    "enter_service": {
        "enabled": True,
        "v_hi_pct": 110.0,
        "v_lo_pct": 91.7,
        "hz_hi": 50.1,
        "hz_lo": 47.5,
        "delay_s": 60,
        "random_s": 0,
        "ramp_s": 600,
    },
    "trip_lv": {"must_trip": [[45.0, 0.3], [80.0, 3.0]], "mom_cess": [[50.0, 0.0]]},
    "trip_hv": {"must_trip": [[115.0, 0.2], [110.0, 600.0]]},
    "trip_lf": {"must_trip": [[47.5, 0.1]]},
    "trip_hf": {"must_trip": [[51.5, 0.1]], "may_trip": [[50.5, 120.0]]},
    "freq_droop": {
        "db_of_hz": 0.2,
        "db_uf_hz": 0.2,
        "k_of": 5.0,
        "k_uf": 5.0,
        "resp_s": 1.5,
        "p_min_pct": 0,
    },
    "volt_var": {"points": [[93.0, 44.0], [97.0, 0.0], [103.0, 0.0], [107.0, -44.0]], "resp_s": 10},
    "fixed_pf": {"pf": 0.95, "excitation": "under"},
    "w_max_lim_pct": {"pct": 70.0},
}


async def _stage(
    world: SimWorld, kind: str
) -> tuple[object, SimInverterDevice, ModbusLink, SunSpecPowerStage]:
    faults = LineFaults()
    inv = SimInverterDevice(world, 1, faults, device_id=3)
    server, transport = await serve(inv.device, kind, faults)
    link = ModbusLink(transport)
    rating = PowerStageRating(22000.0, 22000.0, 9000.0, 3)  # more than the inverter has
    stage = SunSpecPowerStage("stage-1", SunSpecClient("stage-1", link, 3), rating)
    return server, inv, link, stage


@pytest.mark.parametrize("kind", ["tcp", "rtu"])
def test_discovery_rating_and_setpoints(kind: str) -> None:
    async def main() -> None:
        world = make_world(max_discharge_w=7000.0)
        server, inv, link, stage = await _stage(world, kind)
        try:
            state = await stage.read_state()  # discovers on first use
            ids = [mid for mid, _, _ in stage.client.chain]
            assert ids == [1, 701, 702, 703, 704, 705, 706, 707, 708, 709, 710, 711, 712, 713]
            assert stage.client.chain[0][1] == 40002  # right after "SunS"
            assert state.ready and state.active_w == 0.0 and not state.faults
            # Rating: the configured one, lowered to what model 702 reports.
            assert stage.rating == PowerStageRating(11000.0, 7000.0, 5000.0, 3)
            await stage.set_power(-6500.0, 1200.0)  # discharge 6.5 kW, inject 1.2 kvar
            # SunSpec counts generation positive: WSet = +6500 means discharging.
            assert inv.get(704, "WSetEna") == 1 and inv.get(704, "WSetMod") == 1
            assert inv.scaled(704, "WSet") == 6500.0
            assert inv.scaled(704, "VarSet") == 1200.0 and inv.get(704, "VarSetMod") == 4
            assert world.evses[1].stage.setpoint_w == -6500.0
            await stage.set_power(50000.0, 0.0)  # clamped to the charge rating
            assert inv.scaled(704, "WSet") == -11000.0
            assert (await stage.read_state()).setpoint_w == 11000.0
            assert await stage.storage() == {
                "WHRtg": 60000.0,
                "WHAvail": 30000.0,
                "SoC": 50.0,
                "SoH": 100.0,
            }
        finally:
            await link.close()
            await server.stop()  # type: ignore[attr-defined]

    run(main())


@pytest.mark.parametrize("kind", ["tcp", "rtu"])
def test_protection_settings_land_in_the_inverter(kind: str) -> None:
    async def main() -> None:
        server, inv, link, stage = await _stage(make_world(), kind)
        try:
            await stage.push_protection(PROTECTION)
            assert stage.unsupported == set()
            assert inv.get(703, "ES") == 1
            assert inv.scaled(703, "ESVHi") == pytest.approx(110.0)
            assert inv.scaled(703, "ESVLo") == pytest.approx(91.7)
            assert inv.scaled(703, "ESHzLo") == pytest.approx(47.5)
            assert inv.get(703, "ESRmpTms") == 600
            assert inv.get(707, "Crv[0].MustTrip.ActPt") == 2
            assert inv.scaled(707, "Crv[0].MustTrip.Pt[1].V") == pytest.approx(80.0)
            assert inv.scaled(707, "Crv[0].MustTrip.Pt[1].Tms") == pytest.approx(3.0)
            assert inv.get(707, "Crv[0].MomCess.ActPt") == 1
            assert inv.get(707, "Crv[0].MayTrip.ActPt") == 0  # not given: untouched
            assert inv.scaled(708, "Crv[0].MustTrip.Pt[0].V") == pytest.approx(115.0)
            assert inv.scaled(709, "Crv[0].MustTrip.Pt[0].Hz") == pytest.approx(47.5)
            assert inv.scaled(710, "Crv[0].MayTrip.Pt[0].Tms") == pytest.approx(120.0)
            for mid in (707, 708, 709, 710, 705):
                assert inv.get(mid, "Ena") == 1 and inv.get(mid, "AdptCrvReq") == 1, mid
                assert inv.get(mid, "AdptCrvRslt") == 1, mid  # COMPLETED
            assert inv.scaled(711, "Ctl[0].DbOf") == pytest.approx(0.2)
            assert inv.scaled(711, "Ctl[0].KOf") == pytest.approx(5.0)
            assert inv.scaled(711, "Ctl[0].RspTms") == pytest.approx(1.5)
            assert inv.get(711, "Ena") == 1
            assert inv.get(705, "Crv[0].ActPt") == 4
            assert inv.scaled(705, "Crv[0].Pt[3].Var") == pytest.approx(-44.0)
            assert inv.scaled(704, "PFWInj.PF") == pytest.approx(0.95)
            assert inv.get(704, "PFWInj.Ext") == 1 and inv.get(704, "PFWInjEna") == 1
            assert inv.scaled(704, "WMaxLimPct") == pytest.approx(70.0)
            assert inv.get(704, "WMaxLimPctEna") == 1
        finally:
            await link.close()
            await server.stop()  # type: ignore[attr-defined]

    run(main())


def test_too_many_curve_points_is_refused_before_writing() -> None:
    async def main() -> None:
        server, inv, link, stage = await _stage(make_world(), "tcp")
        try:
            pts = [[50.0 + i, 1.0] for i in range(6)]  # the inverter takes 5
            with pytest.raises(Exception, match="6 must_trip points"):
                await stage.push_protection({"trip_lv": {"must_trip": pts}})
            assert inv.get(707, "Crv[0].MustTrip.ActPt") == 0
        finally:
            await link.close()
            await server.stop()  # type: ignore[attr-defined]

    run(main())


def test_inverter_refusals_are_exception_codes() -> None:
    async def main() -> None:
        server, inv, link, stage = await _stage(make_world(), "tcp")
        try:
            await stage.read_state()
            # Beyond the rating: the inverter answers "illegal data value" (3).
            with pytest.raises(ModbusRequestError) as err:
                await stage.client.write_points(704, {"WSetEna": 1, "WSetMod": 1, "WSet": -30000})
            assert err.value.code == 3 and err.value.device == "stage-1"
            assert "illegal data value" in err.value.reason
            assert world_setpoint(inv) == 0.0  # rolled back: nothing applied
            # A read-only register: "illegal data address" (2).
            addr = inv.addr[701] + inv.layouts[701].points["W"].offset
            with pytest.raises(ModbusRequestError) as err:
                await link.write("stage-1", 3, addr, [1])
            assert err.value.code == 2
            # Still alive after refusals: no backoff.
            await stage.set_power(1000.0, 0.0)
        finally:
            await link.close()
            await server.stop()  # type: ignore[attr-defined]

    run(main())


def world_setpoint(inv: SimInverterDevice) -> float:
    return inv.scaled(704, "WSet")
