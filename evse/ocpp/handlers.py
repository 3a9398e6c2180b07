"""The CSMS-initiated actions this station answers, by action name.

Anything known to the negotiated version but absent here is answered NotSupported by the
endpoint; unknown actions get NotImplemented from the RPC session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evse.ocpp.endpoint import Handler

if TYPE_CHECKING:
    from evse.ocpp.station import OcppStation


async def _data_transfer(req: dict[str, Any]) -> dict[str, Any]:
    return {"status": "UnknownVendorId"}  # P01: no vendor extensions


def build_handlers(station: OcppStation) -> dict[str, Handler]:
    prov, auth, remote = station.prov, station.auth, station.remote
    return {
        # B: provisioning
        "GetVariables": prov.on_get_variables,
        "SetVariables": prov.on_set_variables,
        "GetBaseReport": prov.on_get_base_report,
        "GetReport": prov.on_get_report,
        "SetNetworkProfile": prov.on_set_network_profile,
        "Reset": remote.on_reset,
        # C / D: authorization
        "SendLocalList": auth.on_send_local_list,
        "GetLocalListVersion": auth.on_get_local_list_version,
        "ClearCache": auth.on_clear_cache,
        # E / F / G: transactions, remote control, availability
        "RequestStartTransaction": remote.on_request_start,
        "RequestStopTransaction": remote.on_request_stop,
        "GetTransactionStatus": remote.on_get_transaction_status,
        "UnlockConnector": remote.on_unlock_connector,
        "TriggerMessage": remote.on_trigger_message,
        "ChangeAvailability": remote.on_change_availability,
        "DataTransfer": _data_transfer,
        # Q/K/R: smart-charging
        "SetChargingProfile": station.smart.on_set_charging_profile,
        "GetChargingProfiles": station.smart.on_get_charging_profiles,
        "ClearChargingProfile": station.smart.on_clear_charging_profile,
        "GetCompositeSchedule": station.smart.on_get_composite_schedule,
        "UpdateDynamicSchedule": station.smart.on_update_dynamic_schedule,
        "NotifyAllowedEnergyTransfer": station.smart.v2x.on_notify_allowed_energy_transfer,
        "UsePriorityCharging": station.smart.priority.on_use_priority_charging,
        # Q/K/R: op-modes
        "AFRRSignal": station.afrr.on_afrr_signal,
        # Q/K/R: der-control
        "SetDERControl": station.der.on_set,
        "GetDERControl": station.der.on_get,
        "ClearDERControl": station.der.on_clear,
    }
