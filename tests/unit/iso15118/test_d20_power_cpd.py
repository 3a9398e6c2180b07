"""AC_ / DC_ChargeParameterDiscovery (ISO 15118-20 [V2G20-1619], [V2G20-2272])."""

from __future__ import annotations

import pytest

from evse.iso15118.d20 import ac_charge_parameter_discovery as ac_cpd
from evse.iso15118.d20 import dc_charge_parameter_discovery as dc_cpd
from evse.iso15118.d20.rational import to_float
from evse.iso15118.d20.types import EvNeeds
from evse.iso15118.exi._generated.ac_types import (
    AC_ChargeParameterDiscoveryReqType,
    AC_CPDReqEnergyTransferModeType,
    BPT_AC_CPDReqEnergyTransferModeType,
)
from evse.iso15118.exi._generated.dc_types import (
    BPT_DC_CPDReqEnergyTransferModeType,
    DC_ChargeParameterDiscoveryReqType,
    DC_CPDReqEnergyTransferModeType,
)
from tests.unit.iso15118.d20_power_rig import (
    actions_of,
    code,
    ctx,
    hdr,
    r,
    roundtrip,
    view,
)


def ac_plain(max_w: float = 3_680.0, min_w: float = 1_400.0) -> AC_CPDReqEnergyTransferModeType:
    """A three-phase car: -20 AC values are per phase (plain field = L1)."""
    return AC_CPDReqEnergyTransferModeType(
        EVMaximumChargePower=r(max_w), EVMaximumChargePower_L2=r(max_w),
        EVMaximumChargePower_L3=r(max_w), EVMinimumChargePower=r(min_w))


def ac_bpt(three_phase_export: bool = False) -> BPT_AC_CPDReqEnergyTransferModeType:
    per = r(3_680.0)
    return BPT_AC_CPDReqEnergyTransferModeType(
        EVMaximumChargePower=per, EVMaximumChargePower_L2=per, EVMaximumChargePower_L3=per,
        EVMinimumChargePower=r(1_400.0),
        EVMaximumDischargePower=per,
        EVMaximumDischargePower_L2=per if three_phase_export else None,
        EVMaximumDischargePower_L3=per if three_phase_export else None,
        EVMinimumDischargePower=r(0.0),
    )


def dc_plain(**kw: float) -> DC_CPDReqEnergyTransferModeType:
    v = {"max_w": 150_000.0, "min_w": 0.0, "max_a": 300.0, "min_a": 0.0, "max_v": 450.0,
         "min_v": 250.0}
    v.update(kw)
    return DC_CPDReqEnergyTransferModeType(
        EVMaximumChargePower=r(v["max_w"]), EVMinimumChargePower=r(v["min_w"]),
        EVMaximumChargeCurrent=r(v["max_a"]), EVMinimumChargeCurrent=r(v["min_a"]),
        EVMaximumVoltage=r(v["max_v"]), EVMinimumVoltage=r(v["min_v"]), TargetSOC=80)


def dc_bpt(dis_sign: float = 1.0) -> BPT_DC_CPDReqEnergyTransferModeType:
    p = dc_plain()
    return BPT_DC_CPDReqEnergyTransferModeType(
        EVMaximumChargePower=p.EVMaximumChargePower, EVMinimumChargePower=p.EVMinimumChargePower,
        EVMaximumChargeCurrent=p.EVMaximumChargeCurrent,
        EVMinimumChargeCurrent=p.EVMinimumChargeCurrent, EVMaximumVoltage=p.EVMaximumVoltage,
        EVMinimumVoltage=p.EVMinimumVoltage, TargetSOC=80,
        EVMaximumDischargePower=r(dis_sign * 10_000.0), EVMinimumDischargePower=r(0.0),
        EVMaximumDischargeCurrent=r(dis_sign * 25.0), EVMinimumDischargeCurrent=r(0.0))


# --- AC ---


def test_ac_cpd_ok_sends_our_limits_and_emits_ev_needs() -> None:
    c = ctx("AC", "Dynamic")
    req = AC_ChargeParameterDiscoveryReqType(Header=hdr(), AC_CPDReqEnergyTransferMode=ac_plain())
    out = ac_cpd.handle(req, c, view(), 0.0)
    assert code(out) == "OK"
    assert out.next == {"ScheduleExchangeReq", "SessionStopReq"}
    mode = roundtrip(out).AC_CPDResEnergyTransferMode
    per_phase = [to_float(mode.EVSEMaximumChargePower), to_float(mode.EVSEMaximumChargePower_L2),
                 to_float(mode.EVSEMaximumChargePower_L3)]
    assert sum(per_phase) == pytest.approx(11_000.0, rel=1e-3)
    [needs] = actions_of(out, EvNeeds)
    assert needs.limits.max_charge_w == pytest.approx(11_040.0)
    assert needs.limits.min_charge_w == 1_400.0


def test_ac_bpt_export_scaled_by_its_own_phases() -> None:
    """Reference field lesson: 3 import phases, 1 export phase -> 3.68 kW, not 11 kW."""
    c = ctx("AC_BPT", "Dynamic")
    req = AC_ChargeParameterDiscoveryReqType(Header=hdr(),
                                             BPT_AC_CPDReqEnergyTransferMode=ac_bpt(False))
    res = roundtrip(ac_cpd.handle(req, c, view(), 0.0)).BPT_AC_CPDResEnergyTransferMode
    # charge: min(11 kW, 3 x 230 V x 16 A) over 3 phases
    assert to_float(res.EVSEMaximumChargePower) == pytest.approx(11_000.0 / 3, rel=1e-3)
    assert res.EVSEMaximumChargePower_L3 is not None
    # discharge: 1 x 230 V x 16 A on L1 alone
    assert to_float(res.EVSEMaximumDischargePower) == 3_680.0
    assert res.EVSEMaximumDischargePower_L2 is None and res.EVSEMaximumDischargePower_L3 is None


def test_ac_bpt_three_phase_export() -> None:
    c = ctx("AC_BPT", "Dynamic")
    req = AC_ChargeParameterDiscoveryReqType(Header=hdr(),
                                             BPT_AC_CPDReqEnergyTransferMode=ac_bpt(True))
    res = ac_cpd.handle(req, c, view(), 0.0).response.BPT_AC_CPDResEnergyTransferMode
    assert to_float(res.EVSEMaximumDischargePower) == pytest.approx(11_000.0 / 3, rel=1e-3)
    assert res.EVSEMaximumDischargePower_L3 is not None


def test_ac_bpt_discharge_zero_unless_q01_allows() -> None:
    """OCPP 2.1 Q01: discharge only when allowedEnergyTransfer includes it."""
    c = ctx("AC_BPT", "Dynamic")
    req = AC_ChargeParameterDiscoveryReqType(Header=hdr(),
                                             BPT_AC_CPDReqEnergyTransferMode=ac_bpt(True))
    res = ac_cpd.handle(req, c, view(may_discharge=False), 0.0).response
    assert to_float(res.BPT_AC_CPDResEnergyTransferMode.EVSEMaximumDischargePower) == 0.0


def test_ac_cpd_wrong_charge_parameter_bpt_set_for_plain_service() -> None:
    """[V2G20-1619] FAILED_WrongChargeParameter: the set does not fit the service."""
    req = AC_ChargeParameterDiscoveryReqType(Header=hdr(),
                                             BPT_AC_CPDReqEnergyTransferMode=ac_bpt())
    out = ac_cpd.handle(req, ctx("AC"), view(), 0.0)
    assert code(out) == "FAILED_WrongChargeParameter" and out.next == frozenset()
    roundtrip(out)
    req2 = AC_ChargeParameterDiscoveryReqType(Header=hdr(), AC_CPDReqEnergyTransferMode=ac_plain())
    assert code(ac_cpd.handle(req2, ctx("AC_BPT"), view(), 0.0)) == "FAILED_WrongChargeParameter"


def test_ac_cpd_wrong_charge_parameter_min_above_max() -> None:
    """[V2G20-1619] self-contradicting limits."""
    req = AC_ChargeParameterDiscoveryReqType(
        Header=hdr(), AC_CPDReqEnergyTransferMode=ac_plain(max_w=1_000.0, min_w=4_000.0))
    assert code(ac_cpd.handle(req, ctx("AC"), view(), 0.0)) == "FAILED_WrongChargeParameter"


def test_ac_cpd_unknown_session() -> None:
    req = AC_ChargeParameterDiscoveryReqType(Header=hdr(b"\x09" * 8),
                                             AC_CPDReqEnergyTransferMode=ac_plain())
    out = ac_cpd.handle(req, ctx("AC"), view(), 0.0)
    assert code(out) == "FAILED_UnknownSession" and not out.next


# --- DC ---


def test_dc_cpd_ok() -> None:
    c = ctx("DC", "Scheduled")
    req = DC_ChargeParameterDiscoveryReqType(Header=hdr(), DC_CPDReqEnergyTransferMode=dc_plain())
    out = dc_cpd.handle(req, c, view(), 0.0)
    assert code(out) == "OK" and out.next == {"ScheduleExchangeReq", "SessionStopReq"}
    res = roundtrip(out).DC_CPDResEnergyTransferMode
    assert to_float(res.EVSEMaximumChargePower) == 50_000.0
    assert to_float(res.EVSEMaximumVoltage) == 900.0
    [needs] = actions_of(out, EvNeeds)
    assert needs.limits.max_v == 450.0 and needs.target_soc == 80
    assert c.ev is not None and c.ev.max_charge_a == 300.0


def test_dc_bpt_accepts_either_sign_of_discharge_limits() -> None:
    for sign in (1.0, -1.0):
        c = ctx("DC_BPT", "Dynamic")
        req = DC_ChargeParameterDiscoveryReqType(Header=hdr(),
                                                 BPT_DC_CPDReqEnergyTransferMode=dc_bpt(sign))
        out = dc_cpd.handle(req, c, view(), 0.0)
        res = roundtrip(out).BPT_DC_CPDResEnergyTransferMode
        assert to_float(res.EVSEMaximumDischargePower) == 20_000.0
        assert c.ev is not None and c.ev.max_discharge_w == 10_000.0


def test_dc_bpt_discharge_zero_unless_q01_allows() -> None:
    req = DC_ChargeParameterDiscoveryReqType(Header=hdr(), BPT_DC_CPDReqEnergyTransferMode=dc_bpt())
    res = dc_cpd.handle(req, ctx("DC_BPT"), view(may_discharge=False), 0.0).response
    mode = res.BPT_DC_CPDResEnergyTransferMode
    assert to_float(mode.EVSEMaximumDischargePower) == 0.0
    assert to_float(mode.EVSEMaximumDischargeCurrent) == 0.0


def test_dc_cpd_wrong_charge_parameter_set_for_other_service() -> None:
    """[V2G20-2272] FAILED_WrongChargeParameter."""
    req = DC_ChargeParameterDiscoveryReqType(Header=hdr(), BPT_DC_CPDReqEnergyTransferMode=dc_bpt())
    out = dc_cpd.handle(req, ctx("DC"), view(), 0.0)
    assert code(out) == "FAILED_WrongChargeParameter" and not out.next
    roundtrip(out)
    empty = DC_ChargeParameterDiscoveryReqType(Header=hdr())
    assert code(dc_cpd.handle(empty, ctx("DC"), view(), 0.0)) == "FAILED_WrongChargeParameter"


def test_dc_cpd_wrong_charge_parameter_voltage_range_misses_ours() -> None:
    """[V2G20-2272] the car's 60..100 V battery cannot meet our 150..900 V output."""
    req = DC_ChargeParameterDiscoveryReqType(
        Header=hdr(), DC_CPDReqEnergyTransferMode=dc_plain(max_v=100.0, min_v=60.0))
    assert code(dc_cpd.handle(req, ctx("DC"), view(), 0.0)) == "FAILED_WrongChargeParameter"


def test_dc_cpd_wrong_charge_parameter_min_above_max() -> None:
    req = DC_ChargeParameterDiscoveryReqType(
        Header=hdr(), DC_CPDReqEnergyTransferMode=dc_plain(min_w=9_000.0, max_w=5_000.0))
    assert code(dc_cpd.handle(req, ctx("DC"), view(), 0.0)) == "FAILED_WrongChargeParameter"


def test_dc_cpd_unknown_session() -> None:
    req = DC_ChargeParameterDiscoveryReqType(Header=hdr(b"\x00" * 8),
                                             DC_CPDReqEnergyTransferMode=dc_plain())
    assert code(dc_cpd.handle(req, ctx("DC"), view(), 0.0)) == "FAILED_UnknownSession"
