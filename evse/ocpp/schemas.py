"""JSON-schema validation of OCPP payloads with the schemas shipped in the `ocpp` package.

We use only the package's schema files (2.1 Edition 1 and 2.0.1), not its message classes:
payloads stay camelCase exactly as on the wire. Validators are cached per `SchemaSet`
instance (no module-level cache), one set per negotiated version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

import jsonschema


class OcppVersion(StrEnum):
    """WebSocket subprotocol names, in our order of preference (OCPP-J 3.1.2)."""

    V21 = "ocpp2.1"
    V201 = "ocpp2.0.1"


_PACKAGE_DIR = {OcppVersion.V21: "v21", OcppVersion.V201: "v201"}

# OCPP-J 4.3: map a JSON-schema keyword that failed to the RPC framework error code.
# required / item counts are cardinality (occurrence); type and string[N] lengths are the
# data type; enum / ranges / patterns are an invalid value; unknown fields are format.
_KEYWORD_CODE = {
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "uniqueItems": "OccurrenceConstraintViolation",
    "minProperties": "OccurrenceConstraintViolation",
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    "minLength": "TypeConstraintViolation",
    "enum": "PropertyConstraintViolation",
    "const": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "exclusiveMinimum": "PropertyConstraintViolation",
    "exclusiveMaximum": "PropertyConstraintViolation",
    "multipleOf": "PropertyConstraintViolation",
    "pattern": "PropertyConstraintViolation",
    "format": "PropertyConstraintViolation",
    "additionalProperties": "FormatViolation",
}


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """Why a payload does not match its schema: an OCPP-J error code and a short text."""

    code: str
    description: str
    path: str


class UnknownAction(KeyError):
    """No schema exists for this action in this OCPP version."""


class SchemaSet:
    """Validators for one OCPP version, loaded lazily from the `ocpp` package."""

    def __init__(self, version: OcppVersion) -> None:
        self.version = version
        self._root = resources.files("ocpp") / _PACKAGE_DIR[version] / "schemas"
        # Only names from the package's own file list are ever cached or opened, so the
        # cache is bounded by that list and nothing read from the network becomes a path.
        self._validators: dict[str, jsonschema.Draft6Validator] = {}
        self._stems: frozenset[str] | None = None
        self._actions: frozenset[str] | None = None

    def _schema_names(self) -> frozenset[str]:
        """The stems of the schema files shipped for this version (read once)."""
        if self._stems is None:
            self._stems = frozenset(
                entry.name[: -len(".json")]
                for entry in self._root.iterdir()
                if entry.name.endswith(".json")
            )
        return self._stems

    def actions(self) -> frozenset[str]:
        """Every action name that has a Request schema (plus SEND-only messages)."""
        if self._actions is None:
            names = set()
            for stem in self._schema_names():
                if stem.endswith("Request"):
                    names.add(stem[: -len("Request")])
                elif not stem.endswith("Response"):
                    names.add(stem)
            self._actions = frozenset(names)
        return self._actions

    def knows(self, action: str) -> bool:
        return action in self.actions()

    def cached(self) -> int:
        """How many validators are loaded (bounded by the shipped schema files)."""
        return len(self._validators)

    def _validator(self, schema_name: str) -> jsonschema.Draft6Validator:
        validator = self._validators.get(schema_name)
        if validator is None:
            if schema_name not in self._schema_names():
                raise UnknownAction(schema_name[:64])
            entry = self._root / f"{schema_name}.json"
            schema = json.loads(entry.read_text(encoding="utf-8"))
            validator = self._validators[schema_name] = jsonschema.Draft6Validator(
                _inline(schema)
            )
        return validator

    def check(self, action: str, kind: str, payload: Any) -> SchemaProblem | None:
        """Validate `payload` of `action`; kind is "Request", "Response" or "" (SEND).

        Raises UnknownAction when this version has no such message.
        """
        validator = self._validator(f"{action}{kind}")
        if not isinstance(payload, dict):
            return SchemaProblem("FormatViolation", "payload must be a JSON object", "")
        error = jsonschema.exceptions.best_match(validator.iter_errors(payload))
        if error is None:
            return None
        code = _KEYWORD_CODE.get(str(error.validator), "FormatViolation")
        where = "/".join(str(p) for p in error.absolute_path)
        return SchemaProblem(code, f"{where or '<root>'}: {error.message}"[:255], where)


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace local `#/definitions/X` references by their content (OCPP schemas are not
    recursive): validation then skips the reference resolver, about 1.5x faster."""
    definitions = schema.get("definitions", {})

    def walk(node: Any, depth: int) -> Any:
        if depth > 32:
            raise ValueError("schema nesting too deep (recursive $ref?)")
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/"):
                return walk(definitions[ref.split("/")[-1]], depth + 1)
            return {k: walk(v, depth + 1) for k, v in node.items() if k != "definitions"}
        if isinstance(node, list):
            return [walk(v, depth + 1) for v in node]
        return node

    return dict(walk(schema, 0))


class SchemaRegistry:
    """One SchemaSet per version, created on first use (held by whoever owns sessions)."""

    def __init__(self) -> None:
        self._sets: dict[OcppVersion, SchemaSet] = {}

    def for_version(self, version: OcppVersion) -> SchemaSet:
        if version not in self._sets:
            self._sets[version] = SchemaSet(version)
        return self._sets[version]
