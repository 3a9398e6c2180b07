"""The per-EVSE loop's safety rules on simulated devices and a fake clock (issue 9):
missing grid samples, the stage's own fault, RCD and MCU flags, contactor feedback,
normal opening, AC keep-alive loss, measurement period, validity flags, state report,
and one log line per fault rather than one per sample."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from hal_rig import SIM, Rig

from hal import protocol as p
from hal.protocol import AllowPowerOn, PilotCommand


def test_missing_grid_sample_ceases_after_grace_then_reenters_service_vde_ar_n_4105() -> None:
    # No grid measurement, no protection: after the grace (3 samples) the unit ceases
    # (P = 0, contactor open), reports why, and comes back by the enter-service rules.
    async def scenario() -> None:
        rig = Rig()
        await rig.charging()
        rig.mcu.mode = "blind"
        await rig.run(0.2)
        assert rig.ev.stage.setpoint_w == 0.0
        assert not rig.ev.mcu.contactor_requested and not rig.ev.mcu.contactor_closed
        (fault,) = rig.events("fault", p.FAULT_GRID_SAMPLE)
        assert "no grid sample" in fault.data["reason"]
        gc = [m for m in rig.out if isinstance(m, p.GridConstraintReport)][-1]
        assert gc.state == "ceased"
        rig.mcu.mode = "ok"
        await rig.run(1.0)
        assert len(rig.events("fault_cleared", p.FAULT_GRID_SAMPLE)) == 1
        assert abs(rig.ev.stage.active_w) < 1.0  # enter service: the window must hold first
        await rig.run(61.0)  # EN 50549-1 4.10 default: 60 s in the window
        assert rig.ev.mcu.contactor_closed
        assert rig.ev.stage.active_w == pytest.approx(8000.0, rel=1e-3)

    asyncio.run(scenario())


def test_a_few_missing_samples_are_ridden_through() -> None:
    async def scenario() -> None:
        rig = Rig()
        await rig.charging()
        rig.mcu.mode = "blind"
        await rig.run(0.04)  # two samples, within the grace
        rig.mcu.mode = "ok"
        await rig.run(0.2)
        assert rig.events("fault", p.FAULT_GRID_SAMPLE) == []
        assert rig.ev.mcu.contactor_closed

    asyncio.run(scenario())


def test_stage_reporting_its_own_fault_goes_safe_and_clears() -> None:
    # SunSpec 701 InvSt FAULT / alarm bits: the stage says it is faulted.
    async def scenario() -> None:
        rig = Rig()
        await rig.charging()
        rig.ev.stage.faults.add("over_temp")
        await rig.run(0.2)
        (fault,) = rig.events("fault", p.FAULT_STAGE_STATUS)
        assert "over_temp" in fault.data["reason"]
        assert rig.ev.stage.setpoint_w == 0.0 and not rig.ev.mcu.contactor_closed
        rig.ev.stage.faults.clear()
        await rig.run(0.5)
        assert len(rig.events("fault_cleared", p.FAULT_STAGE_STATUS)) == 1
        assert rig.ev.stage.active_w == pytest.approx(8000.0, rel=1e-3)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("device", "inject", "fragment"),
    [
        (p.FAULT_RCD, "rcd", "residual-current"),
        (p.FAULT_MCU_FLAGS, "flags", "overcurrent"),
    ],
)
def test_rcd_trip_and_mcu_flags_are_reported_iec_61851_1(
    device: str, inject: str, fragment: str
) -> None:
    async def scenario() -> None:
        rig = Rig()
        await rig.charging()
        if inject == "rcd":
            rig.ev.mcu.rcd_tripped = True
        else:
            rig.ev.mcu.errors.add("overcurrent")
        await rig.run(0.2)
        (fault,) = rig.events("fault", device)
        assert fragment in fault.data["reason"]
        assert rig.ev.stage.setpoint_w == 0.0 and not rig.ev.mcu.contactor_closed
        rig.ev.mcu.rcd_tripped = False
        rig.ev.mcu.errors.clear()
        await rig.run(0.5)
        assert len(rig.events("fault_cleared", device)) == 1
        assert rig.ev.mcu.contactor_closed

    asyncio.run(scenario())


def test_welded_contactor_is_a_fault_power_zero_pilot_f_iec_61851_1() -> None:
    async def scenario() -> None:
        rig = Rig()
        await rig.charging()
        rig.ev.mcu.welded = True
        rig.loop.on_allow(AllowPowerOn(1, False, "session ended"))
        await rig.run(1.0)  # beyond contactor_confirm_s (0.5 s)
        (fault,) = rig.events("fault", p.FAULT_CONTACTOR)
        assert "welded" in fault.data["reason"]
        assert rig.ev.stage.setpoint_w == 0.0
        assert rig.ev.mcu.pwm_duty_pct == 0.0  # state F: EVSE not available
        rig.ev.mcu.welded = False
        await rig.run(0.2)
        assert len(rig.events("fault_cleared", p.FAULT_CONTACTOR)) == 1
        assert rig.ev.mcu.pwm_duty_pct == 5.0  # evse's duty again

    asyncio.run(scenario())


def test_contactor_the_mcu_opened_by_itself_is_asked_again_not_faulted() -> None:
    # docs/mcu-protocol.md behaviour 1: after its own keep-alive loss the MCU opens and
    # closes again only on a new command. hal asks once more before calling it stuck.
    async def scenario() -> None:
        rig = Rig()
        await rig.charging()
        rig.ev.mcu.request_contactor(False, rig.t)  # as the MCU's keep-alive loss does
        await rig.run(2.0)
        assert rig.ev.mcu.contactor_closed
        assert rig.events("fault", p.FAULT_CONTACTOR) == []

    asyncio.run(scenario())


def test_contactor_that_stays_open_when_asked_again_is_stuck_iec_61851_1() -> None:
    async def scenario() -> None:
        rig = Rig()
        await rig.charging()
        real = rig.ev.mcu.request_contactor  # the contactor no longer closes when asked
        rig.ev.mcu.request_contactor = lambda closed, now: real(False, now)  # type: ignore[method-assign]
        real(False, rig.t)
        await rig.run(2.0)
        (fault,) = rig.events("fault", p.FAULT_CONTACTOR)
        assert "stuck open" in fault.data["reason"]
        assert rig.ev.stage.setpoint_w == 0.0

    asyncio.run(scenario())


def test_normal_opening_waits_for_the_current_to_fall() -> None:
    # evse goes silent mid-discharge: the request ramps to zero, but the stage lags
    # (time constant 0.3 s): the contactor opens only once |P| < 200 W, never under load.
    slow = dataclasses.replace(SIM, stage_time_constant_s=0.3)

    async def scenario() -> None:
        rig = Rig(sim=slow)
        await rig.charging(-8000.0, settle_s=3.0)
        rig.mcu.opened_at_w.clear()
        rig.loop.on_link_lost()
        await rig.run(3.0)
        assert not rig.ev.mcu.contactor_closed
        assert rig.mcu.opened_at_w and abs(rig.mcu.opened_at_w[0]) < 200.0, rig.mcu.opened_at_w
        assert rig.events("open_under_load") == []

    asyncio.run(scenario())


def test_normal_opening_is_bounded_and_reported_when_the_current_stays() -> None:
    stuck = dataclasses.replace(SIM, stage_rate_limit_w_per_s=1.0)

    async def scenario() -> None:
        rig = Rig(sim=stuck)
        rig.loop.on_pilot(PilotCommand(1, 5.0))
        rig.loop.on_allow(AllowPowerOn(1, True, "test"))
        rig.loop.on_power_request(p.PowerRequest(1, "setpoint", 8000.0, 0.0, 8000.0))
        await rig.run(0.3)  # the contactor has closed
        rig.ev.stage.active_w = 8000.0  # flowing, and it will not fall fast (1 W/s)
        await rig.run(0.05)
        rig.loop.on_allow(AllowPowerOn(1, False, "session ended"))
        await rig.run(2.0)  # open_wait_s = 1.0
        assert not rig.ev.mcu.contactor_closed
        (ev,) = rig.events("open_under_load")
        assert ev.data["active_w"] > 7000.0 and ev.data["waited_s"] >= 1.0

    asyncio.run(scenario())


def test_ac_keepalive_loss_goes_to_x1_before_opening_iec_61851_1_annex_a() -> None:
    async def scenario() -> None:
        rig = Rig(kind="ac")
        await rig.charging()
        rig.loop.on_link_lost()
        await rig.run(0.04)
        assert rig.ev.mcu.pwm_duty_pct == 100.0  # X1: no energy offered
        await rig.run(2.0)
        assert not rig.ev.mcu.contactor_closed  # the EV followed (C -> B): open

    asyncio.run(scenario())


def test_measurements_keep_their_period_on_a_coarser_sample_grid() -> None:
    # 100 ms reports on a 30 ms sample grid: 30 in 3 s, not one every 120 ms (25).
    async def scenario() -> None:
        rig = Rig()
        await rig.run(3.0, step=0.03)
        assert len(rig.measurements()) >= 29

    asyncio.run(scenario())


def test_energy_valid_only_after_a_meter_read_and_grid_valid_with_a_sample() -> None:
    async def scenario() -> None:
        rig = Rig()
        rig.t = 0.02
        await rig.loop.tick(rig.t)  # the first sample: the meter not read yet
        first = rig.measurements()[0]
        assert not first.energy_valid and first.grid_valid
        await rig.charging()
        assert rig.measurements()[-1].energy_valid
        rig.mcu.mode = "blind"
        await rig.run(0.3)
        assert not rig.measurements()[-1].grid_valid

    asyncio.run(scenario())


def test_state_report_is_the_welcome_state_entry() -> None:
    async def scenario() -> None:
        rig = Rig()
        await rig.charging()
        rig.ev.mcu.rcd_tripped = True
        await rig.run(0.1)
        s = rig.loop.state_report()
        assert s["evse_id"] == 1 and s["cp_state"] == "C" and s["pp_ampacity_a"] == 32.0
        assert s["allow"] is True and s["requested_w"] == 8000.0 and s["keepalive_ok"]
        assert s["faults"] == [{"device": p.FAULT_RCD, "reason": "residual-current device tripped"}]
        assert s["grid"]["state"] == "normal" and s["grid"]["p_max_w"] == 11000.0
        assert s["contactor_closed"] is False

    asyncio.run(scenario())


def test_a_device_that_stays_down_is_logged_once_not_every_sample(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        rig = Rig()
        await rig.charging()
        caplog.clear()
        rig.mcu.mode = "dead"
        await rig.run(2.0)  # 100 samples
        errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(errors) <= 2, [r.getMessage() for r in errors]
        assert len(rig.events("fault", "sim-mcu-1")) == 1

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
