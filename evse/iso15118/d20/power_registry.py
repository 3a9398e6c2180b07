"""The energy handlers (secc-power): imported by `registry.py` next to the common ones."""

from __future__ import annotations

from types import ModuleType

from evse.iso15118.d20 import (
    ac_charge_loop,
    ac_charge_parameter_discovery,
    dc_cable_check,
    dc_charge_loop,
    dc_charge_parameter_discovery,
    dc_pre_charge,
    dc_welding_detection,
    power_delivery,
    schedule_exchange,
)

POWER_HANDLERS: tuple[ModuleType, ...] = (
    ac_charge_parameter_discovery,
    dc_charge_parameter_discovery,
    schedule_exchange,
    dc_cable_check,
    dc_pre_charge,
    power_delivery,
    ac_charge_loop,
    dc_charge_loop,
    dc_welding_detection,
)
