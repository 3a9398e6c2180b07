"""The device model: components and variables as data (device_model.toml), values persisted.

Values are strings as on the wire. Precedence: a value the CSMS set (persisted in the
store) over the station config's seed over the file's default. ReadOnly values the
station itself maintains (AvailabilityState, Entries ...) are set with `set_internal`.
"""

from __future__ import annotations

import logging
import math
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from evse.store import Store
from hal.config_reader import ConfigError

log = logging.getLogger(__name__)

ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
# OCPP integer: 32 bit signed (Part 2, 2.1.2); at most 10 digits are ever read.
_INT = re.compile(r"^[+-]?\d{1,10}$")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_DECIMAL = re.compile(r"^[+-]?(\d{1,20}(\.\d{0,20})?|\.\d{1,20})([eE][+-]?\d{1,3})?$")
VALUE_SIZE = 1000  # DeviceDataCtrlr.ValueSize: the longest value we store


@dataclass(frozen=True, slots=True)
class VariableSpec:
    component: str
    variable: str
    instance: str | None
    scope: str  # station | evse | connector
    data_type: str
    unit: str | None
    mutability: str
    default: str
    min: float | None
    max: float | None
    values: tuple[str, ...]
    attributes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Slot:
    """One concrete variable: a spec bound to an EVSE / connector."""

    spec: VariableSpec
    evse_id: int | None
    connector_id: int | None

    def key(self, attribute: str = "Actual") -> str:
        s = self.spec
        return (
            f"{s.component}|{self.evse_id or ''}|{self.connector_id or ''}|"
            f"{s.variable}|{s.instance or ''}|{attribute}"
        )

    def component_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.spec.component}
        if self.evse_id is not None:
            evse: dict[str, Any] = {"id": self.evse_id}
            if self.connector_id is not None:
                evse["connectorId"] = self.connector_id
            out["evse"] = evse
        return out

    def variable_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.spec.variable}
        if self.spec.instance is not None:
            out["instance"] = self.spec.instance
        return out


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_specs(text: str | None = None) -> list[VariableSpec]:
    if text is None:
        text = (resources.files("evse.ocpp") / "device_model.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    specs = []
    for component, table in data.items():
        scope = str(table.get("scope", "station"))
        for name, attrs in table.items():
            if name == "scope":
                continue
            variable, _, instance = name.partition("@")
            values = str(attrs.get("values", ""))
            specs.append(
                VariableSpec(
                    component=component,
                    variable=variable,
                    instance=instance or None,
                    scope=scope,
                    data_type=str(attrs["type"]),
                    unit=attrs.get("unit"),
                    mutability=str(attrs.get("mutability", "ReadWrite")),
                    default=_text(attrs.get("default", "")),
                    min=attrs.get("min"),
                    max=attrs.get("max"),
                    values=tuple(v for v in values.split(",") if v),
                    attributes=tuple(attrs.get("attributes", ["Actual"])),
                )
            )
    return specs


class DeviceModel:
    def __init__(
        self,
        store: Store,
        evses: int = 1,
        connectors_per_evse: int = 1,
        seeds: Mapping[str, str | int | float | bool] | None = None,
        specs: list[VariableSpec] | None = None,
    ) -> None:
        self._store = store
        self._slots: dict[tuple[str, int | None, int | None, str, str | None], Slot] = {}
        for spec in specs if specs is not None else load_specs():
            for evse_id, connector_id in self._instances(spec.scope, evses, connectors_per_evse):
                slot = Slot(spec, evse_id, connector_id)
                ident = (spec.component, evse_id, connector_id, spec.variable, spec.instance)
                self._slots[ident] = slot
        self._values: dict[str, str] = {}
        for slot in self._slots.values():
            for attribute in slot.spec.attributes:
                self._values[slot.key(attribute)] = slot.spec.default
        for name, value in (seeds or {}).items():
            self._seed(name, _text(value))
        by_key = {
            slot.key(attribute): slot
            for slot in self._slots.values()
            for attribute in slot.spec.attributes
        }
        # Stored values are checked like new ones: one that no longer fits its variable
        # (an older release, a bad write, a changed limit) is dropped so the default or
        # seed applies, and kept in `rejected_at_start` for the station to report.
        self.rejected_at_start: list[tuple[Slot, str, str, str]] = []
        for key, value in store.dm_all().items():
            stored_slot = by_key.get(key)
            if stored_slot is None:
                continue
            problem = check_value(stored_slot.spec, value)
            if problem is None:
                self._values[key] = value
            else:
                attribute = key.rsplit("|", 1)[-1]
                self.rejected_at_start.append((stored_slot, attribute, value, problem))
                store.dm_delete(key)
        self._listeners: list[Callable[[Slot, str], None]] = []

    @staticmethod
    def _instances(scope: str, evses: int, conns: int) -> Iterator[tuple[int | None, int | None]]:
        if scope == "station":
            yield None, None
        elif scope == "evse":
            for e in range(1, evses + 1):
                yield e, None
        else:
            for e in range(1, evses + 1):
                for c in range(1, conns + 1):
                    yield e, c

    def _seed(self, name: str, value: str) -> None:
        slots = [s for s in self._slots.values() if _seed_matches(s.spec, name)]
        if not slots:
            raise ConfigError(f"ocpp.variables.{name}", value, "no such component/variable")
        for slot in slots:
            problem = check_value(slot.spec, value)
            if problem:
                raise ConfigError(f"ocpp.variables.{name}", value, problem)
            self._values[slot.key()] = value

    def on_change(self, listener: Callable[[Slot, str], None]) -> None:
        self._listeners.append(listener)

    # -- lookup -----------------------------------------------------------------------

    def slots(self) -> list[Slot]:
        return list(self._slots.values())

    def find(
        self,
        component: str,
        variable: str,
        evse_id: int | None = None,
        connector_id: int | None = None,
        instance: str | None = None,
    ) -> Slot | None:
        return self._slots.get((component, evse_id, connector_id, variable, instance))

    def lookup(self, component: Mapping[str, Any], variable: Mapping[str, Any]) -> Slot | str:
        """OCPP ComponentType + VariableType -> slot, or UnknownComponent / UnknownVariable."""
        evse = component.get("evse") or {}
        evse_id, conn = evse.get("id"), evse.get("connectorId")
        name = component.get("name")
        if component.get("instance") is not None or not any(
            s.spec.component == name and s.evse_id == evse_id and s.connector_id == conn
            for s in self._slots.values()
        ):
            return "UnknownComponent"
        slot = self.find(
            str(name), str(variable.get("name")), evse_id, conn, variable.get("instance")
        )
        return "UnknownVariable" if slot is None else slot

    def get(
        self,
        component: str,
        variable: str,
        evse_id: int | None = None,
        connector_id: int | None = None,
        instance: str | None = None,
    ) -> str:
        slot = self.find(component, variable, evse_id, connector_id, instance)
        if slot is None:
            raise KeyError(f"{component}.{variable}")
        return self._values[slot.key()]

    def get_int(self, component: str, variable: str, instance: str | None = None) -> int:
        return int(float(self.get(component, variable, instance=instance)))

    def get_bool(self, component: str, variable: str) -> bool:
        return self.get(component, variable).lower() == "true"

    def get_list(self, component: str, variable: str) -> list[str]:
        return [v for v in self.get(component, variable).split(",") if v]

    def value(self, slot: Slot, attribute: str = "Actual") -> str | None:
        return self._values.get(slot.key(attribute))

    # -- writes -----------------------------------------------------------------------

    def set_internal(self, slot: Slot, value: str, persist: bool = False) -> None:
        """The station updates a value it owns (no mutability check). Still checked
        against the variable's type and limits: some come from the network (the
        BootNotification interval), and no value that fails may ever be read back."""
        problem = check_value(slot.spec, value)
        if problem is not None:
            log.warning("%s: %r ignored (%s)", slot.key(), value[:100], problem)
            return
        self._values[slot.key()] = value
        if persist:
            self._store.dm_set(slot.key(), value)

    def set_by_csms(self, slot: Slot, attribute: str, value: str) -> str:
        """B05 SetVariables for one entry: returns the SetVariableStatusEnumType."""
        if attribute not in slot.spec.attributes:
            return "NotSupportedAttributeType"
        if slot.spec.mutability == "ReadOnly":
            return "Rejected"  # B05.FR.03
        if check_value(slot.spec, value) is not None:
            return "Rejected"
        key = slot.key(attribute)
        self._values[key] = value
        self._store.dm_set(key, value)  # persistent across reboot (B05.FR.07)
        for listener in self._listeners:
            listener(slot, value)
        return "Accepted"

    def get_by_csms(self, slot: Slot, attribute: str) -> tuple[str, str | None]:
        """B06 GetVariables for one entry: (GetVariableStatusEnumType, value)."""
        if attribute not in slot.spec.attributes:
            return "NotSupportedAttributeType", None
        if slot.spec.mutability == "WriteOnly":
            return "Rejected", None  # B06.FR.04
        return "Accepted", self._values[slot.key(attribute)]


def _seed_matches(spec: VariableSpec, name: str) -> bool:
    component, _, rest = name.partition(".")
    variable, _, instance = rest.partition("@")
    return (
        spec.component == component
        and spec.variable == variable
        and (spec.instance or "") == instance
    )


# The TOML types a config seed may have per dataType: a mistyped seed is an error even
# when its text would parse (true for an integer, 5 for a string).
_SEED_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "decimal": (int, float),
    "boolean": (bool,),
}


def seed_problem(specs: list[VariableSpec], name: str, value: object) -> str | None:
    """Why `[ocpp.variables] name = value` is not acceptable (None when it is): the same
    rule `evse config check` and the station at start apply."""
    matching = [spec for spec in specs if _seed_matches(spec, name)]
    if not matching:
        return "no such component/variable in the device model"
    for spec in matching:
        wanted = _SEED_TYPES.get(spec.data_type, (str,))
        if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
            return f"must be a TOML {' or '.join(t.__name__ for t in wanted)} ({spec.data_type})"
        problem = check_value(spec, _text(value))
        if problem is not None:
            return problem
    return None


def check_value(spec: VariableSpec, value: str) -> str | None:
    """Why `value` is not valid for `spec` (None when it is): its dataType, limits,
    maxLength and valuesList (Part 2 appendices, VariableCharacteristicsType)."""
    if len(value) > VALUE_SIZE:
        return f"longer than ValueSize {VALUE_SIZE}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid Unicode text"
    kind = spec.data_type
    number: float | None = None
    if kind == "integer":
        if not _INT.match(value) or not INT_MIN <= int(value) <= INT_MAX:
            return "not a 32-bit integer"
        number = int(value)
    elif kind == "decimal":
        if not _DECIMAL.match(value):
            return "not a decimal"
        number = float(value)
        if not math.isfinite(number):
            return "not a finite decimal"
    elif kind == "dateTime":
        if value and not _is_datetime(value):
            return "not an RFC 3339 date-time"
    elif kind == "boolean":
        if value not in ("true", "false"):
            return "not true/false"
    elif kind == "OptionList":
        if spec.values and value not in spec.values:
            return f"not one of {','.join(spec.values)}"
    elif kind in ("MemberList", "SequenceList"):
        members = [m for m in value.split(",") if m]
        if spec.values and any(m not in spec.values for m in members):
            return f"members must be from {','.join(spec.values)}"
    elif kind == "string":
        # minLimit / maxLimit of a string are its length (Part 2, VariableCharacteristics).
        if spec.max is not None and len(value) > spec.max:
            return f"longer than {int(spec.max)}"
        if spec.min is not None and len(value) < spec.min:
            return f"shorter than {int(spec.min)}"
    if number is not None:
        if spec.min is not None and number < spec.min:
            return f"below {spec.min}"
        if spec.max is not None and number > spec.max:
            return f"above {spec.max}"
    return None


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
