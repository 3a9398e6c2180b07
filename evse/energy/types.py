"""Types shared by the energy manager and the OCPP blocks that feed it."""

from __future__ import annotations

from typing import Any, TypedDict


class SchedulePeriod(TypedDict, total=False):
    """One ChargingSchedulePeriod in force (OCPP 2.1 field names), with its unit."""

    chargingRateUnit: str
    startPeriod: int
    limit: float
    limit_L2: float
    limit_L3: float
    dischargeLimit: float
    dischargeLimit_L2: float
    dischargeLimit_L3: float
    setpoint: float
    setpoint_L2: float
    setpoint_L3: float
    setpointReactive: float
    setpointReactive_L2: float
    setpointReactive_L3: float
    numberPhases: int
    phaseToUse: int
    preconditioningRequest: bool
    evseSleep: bool
    v2xBaseline: float
    operationMode: str
    v2xFreqWattCurve: list[dict[str, Any]]
    v2xSignalWattCurve: list[dict[str, Any]]
    # Not a profile field: how the station executes a LocalFrequency period (Q08), from
    # V2XChargingCtrlr.LocalFrequencyUpdateThreshold (mHz).
    localFrequencyUpdateThreshold: int
