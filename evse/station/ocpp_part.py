"""The controller's OCPP part: the station it runs (a fresh one per restart) and the id
token it presents at plug-in (`[controller] id_token`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from evse.energy.period_source import PeriodSource
from evse.station.hal_port import HalStationPort

if TYPE_CHECKING:
    from evse.controller import Controller

log = logging.getLogger(__name__)

# The configured id token stands for a tap at plug-in; right after a (re)start the CSMS
# connection is usually moments away, so wait that long for it rather than decide by the
# offline rules (after which they apply).
TOKEN_ONLINE_WAIT_S = 30.0


async def run_ocpp(ctrl: Controller) -> None:
    """A fresh station per (re)start, told the station's state at once (the same events
    a restarted process gets from hal's welcome)."""
    from evse.ocpp.clock import ScaledClock
    from evse.ocpp.station import OcppStation  # only stations with a CSMS pay for it

    assert ctrl.cfg.ocpp is not None
    path = ctrl.cfg.controller.state_dir / "evse.sqlite"
    port = HalStationPort(ctrl, ctrl.cfg.hal.grid.nominal_frequency_hz)
    speed = ctrl.cfg.ocpp.clock_speed  # `evse sim --speed`: simulated time, else real
    station = OcppStation(ctrl.cfg.ocpp, path, port, ScaledClock(speed) if speed != 1 else None)
    ctrl._ocpp = station
    if isinstance(station, PeriodSource):
        ctrl.period_source = station
    ctrl.signal_source = station.afrr
    ctrl.v2x = station.smart.v2x.may_discharge
    station.smart.on_change = ctrl._refresh_requests  # Q04: act on a change at once
    for event in ctrl._translator.snapshot():
        ctrl._station_event(event)
    await station.run()


async def present_token(ctrl: Controller, evse_id: int, token: str) -> None:
    ocpp = ctrl._ocpp
    # Already authorized (a resumed transaction, or the same plug-in seen again after a
    # reconnect): presenting the token again would stop it (E07).
    if ocpp is None or ocpp.authorized(evse_id):
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ocpp.connected.wait(), TOKEN_ONLINE_WAIT_S)
    if ocpp is not ctrl._ocpp or ocpp.authorized(evse_id):
        return  # restarted, or authorized meanwhile
    info = await ocpp.present_id_token(evse_id, {"idToken": token, "type": "Local"})
    ctrl._view(evse_id).id_status = info.get("status")  # ISO 15118 EIM hears it
    log.info("evse %d: id token %s -> %s", evse_id, token, info.get("status"))
