"""Provisioning (B): BootNotification content, Get/SetVariables, reports, network profiles.

GetBaseReport / GetReport are answered at once and the NotifyReport messages follow in
chunks of DeviceDataCtrlr.ItemsPerMessage[NotifyReport] with seqNo and tbc (B07, B08).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from evse.ocpp.clock import Clock, iso
from evse.ocpp.config import OcppConfig
from evse.ocpp.connection import NetworkProfile, url_problem
from evse.ocpp.device_model import DeviceModel, Slot
from evse.ocpp.endpoint import OcppCallError, Reply
from evse.store import Store

Payload = dict[str, Any]
CRITERIA = ("Active", "Available", "Enabled", "Problem")


def boot_payload(config: OcppConfig, reason: str) -> Payload:
    station: Payload = {"model": config.model, "vendorName": config.vendor_name}
    if config.serial_number:
        station["serialNumber"] = config.serial_number
    if config.firmware_version:
        station["firmwareVersion"] = config.firmware_version
    return {"reason": reason, "chargingStation": station}


class Provisioning:
    def __init__(
        self,
        config: OcppConfig,
        dm: DeviceModel,
        store: Store,
        clock: Clock,
        push: Callable[[str, Payload], None],
    ) -> None:
        self._config = config
        self._dm = dm
        self._store = store
        self._clock = clock
        self._push = push  # queue a CS-initiated message

    # -- B05 / B06 --------------------------------------------------------------------

    def _limit(self, instance: str, count: int) -> None:
        limit = int(self._dm.get("DeviceDataCtrlr", "ItemsPerMessage", instance=instance))
        if count > limit:
            raise OcppCallError(
                "OccurrenceConstraintViolation", f"more than {limit} entries"
            )  # B05.FR.?/B06.FR.?: ItemsPerMessage exceeded

    async def on_get_variables(self, req: Payload) -> Payload:
        self._limit("GetVariables", len(req["getVariableData"]))
        results = []
        for item in req["getVariableData"]:
            attribute = item.get("attributeType", "Actual")
            found = self._dm.lookup(item["component"], item["variable"])
            value: str | None = None
            if isinstance(found, str):
                status = found
            else:
                status, value = self._dm.get_by_csms(found, attribute)
            result: Payload = {
                "attributeStatus": status,
                "component": item["component"],
                "variable": item["variable"],
            }
            if "attributeType" in item:
                result["attributeType"] = attribute
            if value is not None:
                result["attributeValue"] = value
            results.append(result)
        return {"getVariableResult": results}

    async def on_set_variables(self, req: Payload) -> Payload:
        self._limit("SetVariables", len(req["setVariableData"]))
        results = []
        for item in req["setVariableData"]:
            attribute = item.get("attributeType", "Actual")
            found = self._dm.lookup(item["component"], item["variable"])
            status = (
                found
                if isinstance(found, str)
                else self._dm.set_by_csms(found, attribute, str(item["attributeValue"]))
            )
            result: Payload = {
                "attributeStatus": status,
                "component": item["component"],
                "variable": item["variable"],
            }
            if "attributeType" in item:
                result["attributeType"] = attribute
            results.append(result)
        return {"setVariableResult": results}

    # -- B07 / B08 --------------------------------------------------------------------

    def _report_entry(self, slot: Slot) -> Payload:
        spec = slot.spec
        attributes = []
        for attribute in spec.attributes:
            entry: Payload = {
                "type": attribute,
                "mutability": spec.mutability,
                "persistent": spec.mutability != "ReadOnly",
                "constant": False,
            }
            value = self._dm.value(slot, attribute)
            if spec.mutability != "WriteOnly" and value is not None:
                entry["value"] = value
            attributes.append(entry)
        characteristics: Payload = {"dataType": spec.data_type, "supportsMonitoring": False}
        if spec.unit:
            characteristics["unit"] = spec.unit
        if spec.min is not None:
            characteristics["minLimit"] = spec.min
        if spec.max is not None:
            characteristics["maxLimit"] = spec.max
        if spec.values:
            characteristics["valuesList"] = ",".join(spec.values)
        return {
            "component": slot.component_json(),
            "variable": slot.variable_json(),
            "variableAttribute": attributes,
            "variableCharacteristics": characteristics,
        }

    def _send_report(self, request_id: int, slots: list[Slot]) -> None:
        size = int(self._dm.get("DeviceDataCtrlr", "ItemsPerMessage", instance="NotifyReport"))
        chunks = [slots[i : i + size] for i in range(0, len(slots), size)] or [[]]
        generated = iso(self._clock.wall())
        for seq_no, chunk in enumerate(chunks):
            payload: Payload = {
                "requestId": request_id,
                "generatedAt": generated,
                "seqNo": seq_no,
                "tbc": seq_no < len(chunks) - 1,
            }
            if chunk:
                payload["reportData"] = [self._report_entry(s) for s in chunk]
            self._push("NotifyReport", payload)

    async def on_get_base_report(self, req: Payload) -> Payload | Reply:
        base = req["reportBase"]
        slots = self._dm.slots()
        if base == "ConfigurationInventory":
            slots = [s for s in slots if s.spec.mutability != "ReadOnly"]
        elif base == "SummaryInventory":
            slots = [s for s in slots if s.spec.variable in ("AvailabilityState", "Problem")]
        request_id = int(req["requestId"])

        async def then() -> None:
            self._send_report(request_id, slots)

        return Reply({"status": "Accepted"}, then)

    async def on_get_report(self, req: Payload) -> Payload | Reply:
        slots = self._dm.slots()
        wanted = req.get("componentVariable")
        if wanted:
            slots = [s for s in slots if any(self._matches(s, cv) for cv in wanted)]
        criteria = req.get("componentCriteria")
        if criteria:
            ok = {
                (s.spec.component, s.evse_id, s.connector_id)
                for s in self._dm.slots()
                if s.spec.variable in criteria and self._dm.value(s) == "true"
            }
            slots = [s for s in slots if (s.spec.component, s.evse_id, s.connector_id) in ok]
        if not slots:
            return {"status": "EmptyResultSet"}  # B08.FR.?: nothing matches
        request_id = int(req["requestId"])

        async def then() -> None:
            self._send_report(request_id, slots)

        return Reply({"status": "Accepted"}, then)

    @staticmethod
    def _matches(slot: Slot, cv: Payload) -> bool:
        comp = cv["component"]
        if comp["name"] != slot.spec.component:
            return False
        evse = comp.get("evse")
        if evse is not None:
            if evse.get("id") != slot.evse_id:
                return False
            if "connectorId" in evse and evse["connectorId"] != slot.connector_id:
                return False
        var = cv.get("variable")
        if var is None:
            return True
        return bool(
            var["name"] == slot.spec.variable
            and var.get("instance", slot.spec.instance) == slot.spec.instance
        )

    # -- B09 network profiles ---------------------------------------------------------

    def _stored_profiles(self) -> dict[str, Any]:
        raw = self._store.get_meta("network_profiles")
        try:
            stored = json.loads(raw) if raw else {}
        except ValueError:
            return {"?": "unreadable"}
        return stored if isinstance(stored, dict) else {"?": "unreadable"}

    def profiles(self) -> dict[int, NetworkProfile]:
        """Slot 0 is the station config; others came from SetNetworkProfile. A stored
        profile that fails the checks of SetNetworkProfile is skipped, never used."""
        out = {
            0: NetworkProfile(
                0,
                self._config.csms_url,
                self._config.security_profile,
                self._config.basic_auth_password,
                self._config.message_timeout,
            )
        }
        for slot, data in self._stored_profiles().items():
            if profile_problem(slot, data) is not None:
                continue
            out[int(slot)] = NetworkProfile(
                int(slot),
                data["ocppCsmsUrl"],
                int(data["securityProfile"]),
                data.get("basicAuthPassword", self._config.basic_auth_password),
                float(data["messageTimeout"]),
            )
        return out

    def priority(self) -> list[int]:
        known = self.profiles()
        order = [
            int(s)
            for s in self._dm.get_list("OCPPCommCtrlr", "NetworkConfigurationPriority")
            if s.isdigit() and len(s) < 4 and int(s) in known
        ]
        return order or [0]

    async def on_set_network_profile(self, req: Payload) -> Payload:
        data = req["connectionData"]
        slot = req["configurationSlot"]
        current = int(self._dm.get("SecurityCtrlr", "SecurityProfile"))
        if (
            profile_problem(str(slot), data) is not None
            or int(data["securityProfile"]) < current  # B09.FR.04: no downgrade
        ):
            return {"status": "Rejected"}  # B09.FR.02: checked before it is stored
        stored = self._stored_profiles()
        stored.pop("?", None)
        stored[str(slot)] = data
        self._store.set_meta("network_profiles", json.dumps(stored))
        return {"status": "Accepted"}

    # -- stored state checked at start ------------------------------------------------

    def report_start_problems(self) -> int:
        """Report what was stored but failed validation at start, now replaced by its
        default: a NotifyEvent per device-model value (its component and variable, the
        value now in force, why) and per dropped network profile. Returns the count."""
        events: list[Payload] = []
        for slot, attribute, value, problem in self._dm.rejected_at_start:
            now_value = self._dm.value(slot, attribute) or ""
            events.append(
                self._event(
                    slot.component_json(),
                    slot.variable_json(),
                    now_value,
                    f"stored {attribute} value {value[:100]!r} rejected ({problem}); "
                    "default restored",
                )
            )
        stored = self._stored_profiles()
        bad: dict[str, str] = {}
        for key, data in stored.items():
            why = profile_problem(key, data)
            if why is not None:
                bad[key] = why
        if bad:
            keep = {k: v for k, v in stored.items() if k not in bad}
            self._store.set_meta("network_profiles", json.dumps(keep))
            for slot_name, problem in sorted(bad.items()):
                events.append(
                    self._event(
                        {"name": "OCPPCommCtrlr"},
                        {"name": "NetworkConfigurationPriority"},
                        self._dm.get("OCPPCommCtrlr", "NetworkConfigurationPriority"),
                        f"stored network profile {slot_name[:10]!r} dropped: {problem}",
                    )
                )
        if events:
            generated = iso(self._clock.wall())
            self._push(
                "NotifyEvent",
                {"generatedAt": generated, "seqNo": 0, "tbc": False, "eventData": events},
            )
        return len(events)

    def _event(
        self, component: Payload, variable: Payload, actual: str, tech_info: str
    ) -> Payload:
        event_id = int(self._store.get_meta("next_event_id") or "1")
        self._store.set_meta("next_event_id", str(event_id % 2_000_000_000 + 1))
        return {
            "eventId": event_id,
            "timestamp": iso(self._clock.wall()),
            "trigger": "Alerting",
            "actualValue": actual[:2500],
            "techInfo": tech_info[:500],
            "cleared": True,  # already handled: the default is in force
            "eventNotificationType": "HardWiredNotification",
            "component": component,
            "variable": variable,
        }


MAX_PROFILE_SLOT = 8  # configurationSlot values we store (bounded: one meta row)


def profile_problem(slot: str, data: Any) -> str | None:
    """Why a network profile (B09 NetworkConnectionProfileType) cannot be used: the one
    check for SetNetworkProfile and for profiles read back at start."""
    if not slot.isdigit() or not 1 <= int(slot) <= MAX_PROFILE_SLOT:
        return f"configurationSlot must be 1-{MAX_PROFILE_SLOT}"
    if not isinstance(data, dict):
        return "not a profile"
    url = data.get("ocppCsmsUrl")
    profile = data.get("securityProfile")
    timeout = data.get("messageTimeout")
    if not isinstance(url, str):
        return "ocppCsmsUrl missing"
    problem = url_problem(url)
    if problem is not None:
        return f"ocppCsmsUrl {problem}"
    if type(profile) is not int or profile not in (1, 2, 3):
        return "securityProfile must be 1, 2 or 3"
    if (profile == 1) != url.startswith("ws://"):
        return f"securityProfile {profile} does not fit the URL scheme"
    if type(timeout) is not int or not 1 <= timeout <= 3600:
        return "messageTimeout must be 1-3600 s"
    if data.get("ocppTransport") != "JSON":
        return "ocppTransport must be JSON"
    password = data.get("basicAuthPassword")
    if password is not None and (not isinstance(password, str) or not 16 <= len(password) <= 40):
        return "basicAuthPassword must be 16-40 characters"
    return None
