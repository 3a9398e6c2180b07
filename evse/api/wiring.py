"""How the controller gets its API: built from `[mqtt]`, with the EMS inputs as the
controller's `ems_source` and, on a station without a CSMS, `[mqtt] local_mode` as its
period source. Kept here so that evse/controller.py only calls `attach`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evse.api.local_mode import LocalMode

if TYPE_CHECKING:
    from evse.api.client import MqttApi
    from evse.controller import Controller


def attach(ctrl: Controller) -> MqttApi | None:
    cfg = ctrl.cfg.mqtt
    if cfg is None:
        return None
    from evse.api.client import MqttApi  # aiomqtt only for stations that use it

    api = MqttApi(cfg, ctrl, ctrl._refresh_requests, ctrl.clock)
    if ctrl.ems_source is None:
        ctrl.ems_source = api.ems
    if cfg.local_mode != "none" and ctrl.period_source is None:
        ctrl.period_source = LocalMode(cfg.local_mode)
    return api
