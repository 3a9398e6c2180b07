"""One DER validator for both sides (hal/der_rules.py, hal/der_parse.py): evse's
SetDERControl answer (R04) and hal's directive check agree on every control, so the CSMS
never hears Accepted for a control hal then refuses; the module is importable without
hal's internals (docs/hal-contract.md, layering)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from evse.ocpp import der_rules as evse_rules
from hal.der_rules import ALL_TYPES
from hal.grid.directives import select_active

Payload = dict[str, Any]


def ctl(ctype: str, field: str, body: Payload, default: bool = True) -> Payload:
    return {"controlId": "c1", "controlType": ctype, "isDefault": default, field: body}


def curve(ctype: str, unit: str, pts: list[tuple[float, float]], **extra: Any) -> Payload:
    data = [{"x": x, "y": y} for x, y in pts]
    return ctl(ctype, "curve", {"priority": 1, "yUnit": unit, "curveData": data, **extra})


DROOP = {"priority": 1, "overFreq": 50.2, "underFreq": 49.8, "overDroop": 0.05,
         "underDroop": 0.05, "responseTime": 2}  # fmt: skip
ES = {"priority": 1, "highVoltage": 110, "lowVoltage": 90, "highFreq": 50.1, "lowFreq": 47.5}
PF = {"priority": 1, "displacement": 1.2, "excitation": True}
VAR = {"priority": 1, "setpoint": 300, "unit": "PctMaxVar"}
LMD = {"priority": 1, "pctMaxDischargePower": 150}
# (control, executable by hal at 50 Hz nominal)
CASES: list[tuple[str, Payload, bool]] = [
    ("HFMustTrip ok", curve("HFMustTrip", "Not_Applicable", [(0.2, 52.0), (1.0, 50.5)]), True),
    # The first DER helper's own test curve: x in Hz, y in s. hal refuses it (y is the
    # frequency); evse used to answer Accepted.
    ("HFMustTrip axes swapped", curve("HFMustTrip", "Not_Applicable", [(50.5, 0.2)]), False),
    (
        "HFMustTrip stages widen",
        curve("HFMustTrip", "Not_Applicable", [(0.2, 50.5), (1.0, 52.0)]),
        False,
    ),
    ("LVMustTrip over 100 %", curve("LVMustTrip", "Not_Applicable", [(1.0, 120.0)]), False),
    ("FreqWatt ok", curve("FreqWatt", "PctMaxW", [(49.8, 100.0), (50.2, -100.0)]), True),
    ("FreqWatt x beyond 120 %", curve("FreqWatt", "PctMaxW", [(49.8, 0.0), (70.0, 0.0)]), False),
    ("VoltVar unsorted", curve("VoltVar", "PctMaxVar", [(104.0, -40.0), (96.0, 40.0)]), False),
    ("VoltVar y 150 %", curve("VoltVar", "PctMaxVar", [(96.0, 150.0)]), False),
    ("WattPF below 0.1", curve("WattPF", "Not_Applicable", [(0.0, 0.05)]), False),
    ("FreqDroop ok", ctl("FreqDroop", "freqDroop", DROOP), True),
    ("FreqDroop droop 5 pu", ctl("FreqDroop", "freqDroop", {**DROOP, "overDroop": 5}), False),
    ("EnterService ok", ctl("EnterService", "enterService", ES), True),
    ("EnterService window", ctl("EnterService", "enterService", {**ES, "lowVoltage": 115}), False),
    ("FixedPF 1.2", ctl("FixedPFInject", "fixedPFInject", PF), False),
    ("FixedVar 300 %", ctl("FixedVar", "fixedVar", VAR), False),
    ("LimitMaxDischarge 150 %", ctl("LimitMaxDischarge", "limitMaxDischarge", LMD), False),
]


@pytest.mark.parametrize(("name", "req", "ok"), CASES, ids=[c[0] for c in CASES])
def test_r04_tc_r_103_evse_accepts_exactly_what_hal_executes(
    name: str, req: Payload, ok: bool
) -> None:
    chosen, refused = select_active([req], 50.0)
    assert (chosen != {}) is ok, refused
    if ok:
        evse_rules.check(req, set(ALL_TYPES), 50.0)
        return
    with pytest.raises(evse_rules.DerRejected) as exc:
        evse_rules.check(req, set(ALL_TYPES), 50.0)
    assert exc.value.status == "Rejected"
    assert exc.value.reason == refused[0][1]  # the same rule, in the same words


def test_r04_tc_r_103_reason_code_names_the_rule() -> None:
    swapped = CASES[1][1]
    with pytest.raises(evse_rules.DerRejected) as exc:
        evse_rules.check(swapped, set(ALL_TYPES), 50.0)
    assert exc.value.reason_code == "ValueOutOfRange"
    assert "outside 50.0..60.0 Hz" in exc.value.reason
    wrong_unit = curve("FreqWatt", "PctMaxVar", [(49.8, 100.0)])
    with pytest.raises(evse_rules.DerRejected) as exc:
        evse_rules.check(wrong_unit, set(ALL_TYPES), 50.0)
    assert exc.value.reason_code == "InvalidValue" and "R04.FR.50-56" in exc.value.reason


def test_frequency_ranges_follow_the_grid_nominal() -> None:
    sixty = curve("FreqWatt", "PctMaxW", [(59.8, 100.0), (60.2, -100.0)])
    evse_rules.check(sixty, set(ALL_TYPES), 60.0)
    with pytest.raises(evse_rules.DerRejected):
        evse_rules.check(sixty, set(ALL_TYPES), 50.0)  # 60.2 Hz > 1.2 x 50 Hz


def test_contract_rules_import_no_hal_internals() -> None:
    code = (
        "import sys, hal.der_rules, hal.der_parse\n"
        "bad = [m for m in sys.modules if m.startswith('hal.') and m not in"
        " ('hal.der_rules', 'hal.der_parse')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
