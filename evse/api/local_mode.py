"""A station without a CSMS whose config hands power control to the local EMS
(`[mqtt] local_mode`): a PeriodSource with that operation mode and no limit of its own,
so Q05 / Q06 acceptance and the energy manager work as under a CSMS's profile. The EVSE's
ratings (and, without a CSMS, no discharge: Q01) still bound everything."""

from __future__ import annotations

from evse.energy.types import SchedulePeriod


class LocalMode:
    def __init__(self, operation_mode: str) -> None:
        self.operation_mode = operation_mode

    def current_period(self, evse_id: int) -> SchedulePeriod | None:
        return {"chargingRateUnit": "W", "operationMode": self.operation_mode}
