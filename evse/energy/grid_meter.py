"""hal's grid meter reading as the energy manager's LocalLoadBalancing input (OCPP 2.1
Q09), kept by the controller. Pure: `now` is passed in.

The meter is read about once a second and hal repeats the latest reading every report
period (`seq` tells a new one). Each new reading is paired with every EVSE's power at that
moment and the pair is held until the next reading: the balance is computed once per
reading, from values taken at one time. Pairing a second-old meter value with the
EVSE's power of now would count the EVSE's own ramp as site load and chase itself.

With several EVSEs, each takes an equal share of the exchange to correct; the next
reading corrects what the others did not take. No reading, an invalid one (hal: not read
yet, meter in fault, stale) or no report for `stale_s`: no input (the mode holds at zero).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hal.protocol import Event, GridMeterReport, Message

log = logging.getLogger(__name__)

STALE_S = 3.0  # hal reports every report period; this long without one is no reading
STATION = 0  # hal's evse_id for events about the station as a whole (grid meter faults)


@dataclass(frozen=True, slots=True)
class BalanceInput:
    site_import_w: float  # this EVSE's share of the exchange (+ imports)
    own_w: float  # this EVSE's power when the meter was read


class GridMeterView:
    def __init__(self, stale_s: float = STALE_S) -> None:
        self._stale_s = stale_s
        self.report: GridMeterReport | None = None
        self._last_report = float("-inf")
        self._seq: int | None = None
        self._own: dict[int, float] = {}  # EVSE powers paired with the reading in force

    def on_message(
        self, msg: Message, now: float, own_powers: Callable[[], Mapping[int, float]]
    ) -> bool:
        """Takes hal's `grid_meter` reports and station-wide events; True if it was one."""
        if isinstance(msg, Event) and msg.evse_id == STATION:
            level = logging.WARNING if msg.kind == "fault" else logging.INFO
            log.log(level, "station event %s %s", msg.kind, msg.data)
            return True
        if not isinstance(msg, GridMeterReport):
            return False
        self.report = msg
        self._last_report = now
        if msg.valid and msg.seq != self._seq:
            self._seq = msg.seq
            self._own = dict(own_powers())
        return True

    def balance(self, evse_id: int, now: float) -> BalanceInput | None:
        r = self.report
        if r is None or not r.valid or now - self._last_report > self._stale_s:
            return None
        own = self._own.get(evse_id)
        if own is None:  # no measurement of this EVSE when the meter was read
            return None
        return BalanceInput(r.total_w / max(len(self._own), 1), own)
