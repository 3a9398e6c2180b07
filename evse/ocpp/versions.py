"""What differs between 2.1 and 2.0.1 for the messages we originate.

Messages are built once (and may sit in the queue across a reconnect that negotiates a
different version), so they are adapted at send time to the version on the wire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evse.ocpp.schemas import OcppVersion

if TYPE_CHECKING:
    from evse.ocpp.endpoint import RpcEndpoint

Payload = dict[str, Any]

# triggerReason values new in 2.1 -> the closest 2.0.1 value
_TRIGGER_201 = {
    "TxResumed": "AbnormalCondition",
    "OperationModeChanged": "ChargingRateChanged",
    "LimitSet": "ChargingRateChanged",
    "CostLimitReached": "EnergyLimitReached",
    "SoCLimitReached": "EnergyLimitReached",
    "RunningCost": "Trigger",
    "TariffChanged": "Trigger",
    "TariffNotAccepted": "Trigger",
}
_TX_EVENT_21_ONLY = ("costDetails", "preconditioningStatus", "evseSleep")
_TX_INFO_21_ONLY = ("operationMode", "tariffId", "transactionLimit")


# NotifyEVChargingNeeds: what 2.0.1 knows of ChargingNeedsType, and its transfer modes.
_NEEDS_201 = ("acChargingParameters", "dcChargingParameters", "requestedEnergyTransfer",
              "departureTime", "customData")  # fmt: skip
_MODE_201 = {"AC_BPT": "AC_three_phase", "AC_BPT_DER": "AC_three_phase", "AC_DER": "AC_three_phase",
             "DC_BPT": "DC", "DC_ACDP": "DC", "DC_ACDP_BPT": "DC"}  # fmt: skip


def adapt(version: OcppVersion, action: str, payload: Payload) -> Payload:
    if version == OcppVersion.V21:
        return payload
    if action == "NotifyEVChargingNeeds":
        return _needs_201(payload)
    if action != "TransactionEvent":
        return payload
    out = {k: v for k, v in payload.items() if k not in _TX_EVENT_21_ONLY}
    out["triggerReason"] = _TRIGGER_201.get(out["triggerReason"], out["triggerReason"])
    out["transactionInfo"] = {
        k: v for k, v in out["transactionInfo"].items() if k not in _TX_INFO_21_ONLY
    }
    return out


def _needs_201(payload: Payload) -> Payload:
    """2.0.1 has no timestamp, no V2X / DER parameters or offers, no BPT modes."""
    out = {k: v for k, v in payload.items() if k != "timestamp"}
    needs = {k: v for k, v in payload["chargingNeeds"].items() if k in _NEEDS_201}
    mode = needs["requestedEnergyTransfer"]
    needs["requestedEnergyTransfer"] = _MODE_201.get(mode, mode)
    out["chargingNeeds"] = needs
    return out


class VersionedCaller:
    """Adapts each queued message to the version negotiated on this connection."""

    def __init__(self, endpoint: RpcEndpoint) -> None:
        self._endpoint = endpoint
        self._version = endpoint.session.version

    async def call(
        self, action: str, payload: dict[str, Any], message_id: str | None = None
    ) -> dict[str, Any]:
        return await self._endpoint.call(action, adapt(self._version, action, payload), message_id)
