"""Pydantic's JSON Schema, translated into the Swagger 2.0 schemas a connector definition holds.

Power Platform custom connectors and Logic Apps import OpenAPI 2.0, whose schema dialect predates
most of what pydantic emits: there is no ``anyOf``, ``oneOf``, ``const`` or ``null`` type, and
``$defs`` are ``definitions``. The translation is strict on purpose: a construct it does not know
stops the generator (and the tests) instead of slipping into the definition half-described, so a
model change that Swagger 2.0 cannot express is decided here, once, by a person (an override).

What it does with what pydantic emits:

- an optional value (``X | None``) is ``X`` with ``x-nullable: true``, the AutoRest extension
  Power Platform reads; a nullable object is inlined, since ``$ref`` admits no siblings;
- an enumeration is inlined where it is used, so the designer shows a drop-down there;
- any other object model becomes a named entry of ``definitions``;
- ``examples`` becomes Swagger's single ``example``; pydantic's humanised property titles give
  way to ``x-ms-summary``, which is what the designer shows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

JsonSchema = dict[str, Any]
# (the property's JSON Schema, the translator) -> its Swagger schema
Override = Callable[[JsonSchema, "Translator"], JsonSchema]

# Keywords that mean the same in both dialects.
_COPIED = (
    "type",
    "format",
    "description",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "enum",
    "readOnly",
)
# Keywords handled below, or dropped: ``title`` of a property is pydantic's humanised name, and
# ``writeOnly`` (a secret's marker) has no Swagger 2.0 counterpart.
_HANDLED = {
    "$ref",
    "anyOf",
    "const",
    "default",
    "examples",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "title",
    "writeOnly",
}
_ACRONYMS = {"id": "ID", "url": "URL", "odata": "OData", "http": "HTTP"}


class UnsupportedSchemaError(ValueError):
    """The models use a JSON Schema construct this translation has no Swagger 2.0 form for."""


def humanise(name: str) -> str:
    """``user_principal_name`` -> ``User principal name``; ``callback_url`` -> ``Callback URL``."""
    words = [_ACRONYMS.get(w, w) for w in name.split("_")]
    first = words[0]
    words[0] = first if first in _ACRONYMS.values() else first[:1].upper() + first[1:]
    return " ".join(words)


def nullable_branch(schema: JsonSchema) -> JsonSchema | None:
    """The non-null branch of ``anyOf: [X, {"type": "null"}]``; None for any other union."""
    branches = schema.get("anyOf") or []
    others = [b for b in branches if b != {"type": "null"}]
    if len(branches) == 2 and len(others) == 1:
        return dict(others[0])
    return None


class Translator:
    """Translates the schemas of several models, collecting the object models they name."""

    def __init__(
        self,
        *,
        summaries: Mapping[str, str] | None = None,
        overrides: Mapping[str, Override] | None = None,
    ) -> None:
        # "Model.property" or "property" -> x-ms-summary; otherwise the humanised name.
        self.summaries = dict(summaries or {})
        # "Model.property" -> how that property is described instead of translated.
        self.overrides = dict(overrides or {})
        self.definitions: dict[str, JsonSchema] = {}
        self._defs: dict[str, JsonSchema] = {}
        self._used_overrides: set[str] = set()

    def model(self, name: str, schema: JsonSchema) -> JsonSchema:
        """Add a model's top-level JSON Schema (with its ``$defs``) under ``name``; a ``$ref``."""
        for def_name, definition in (schema.get("$defs") or {}).items():
            self._learn(def_name, definition)
        body = {k: v for k, v in schema.items() if k != "$defs"}
        self._learn(name, body)
        return self.reference(name)

    def reference(self, name: str) -> JsonSchema:
        """A ``$ref`` to the definition of the object model ``name``, translated once."""
        if name not in self.definitions:
            self.definitions[name] = {}  # a placeholder, in case the model refers to itself
            self.definitions[name] = self._object(self._def(name), name)
        return {"$ref": f"#/definitions/{name}"}

    def inline(self, name: str) -> JsonSchema:
        """The translated body of model ``name``, for a place where a ``$ref`` cannot stand."""
        return self._object(self._def(name), name)

    def unused_overrides(self) -> list[str]:
        """Overrides that met no property: the model they were written for has changed."""
        return sorted(set(self.overrides) - self._used_overrides)

    def property_schema(self, node: JsonSchema, model: str, prop: str) -> JsonSchema:
        where = f"{model}.{prop}"
        if where in self.overrides:
            self._used_overrides.add(where)
            translated = self.overrides[where](node, self)
        else:
            translated = self.schema(node, where)
        if "$ref" in translated:
            return translated  # no siblings: the designer names it from the definition
        summary = self.summaries.get(where) or self.summaries.get(prop) or humanise(prop)
        return {**translated, "x-ms-summary": summary}

    def schema(self, node: JsonSchema, where: str) -> JsonSchema:
        """The Swagger 2.0 form of one JSON Schema node."""
        unknown = set(node) - set(_COPIED) - _HANDLED
        if unknown:
            raise UnsupportedSchemaError(f"{where}: no Swagger 2.0 form for {sorted(unknown)}")
        if "anyOf" in node:
            return self._nullable(node, where)
        if "$ref" in node:
            return self._referenced(node, where)
        out: JsonSchema = {k: node[k] for k in _COPIED if k in node}
        if "const" in node:
            out["enum"] = [node["const"]]
        if isinstance(node.get("type"), list):
            raise UnsupportedSchemaError(f"{where}: a list of types")
        if out.get("type") == "null":
            raise UnsupportedSchemaError(f"{where}: a value that can only be null")
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            if key in node:  # a bound in draft 2020-12, a flag on minimum/maximum in Swagger 2.0
                out["minimum" if key == "exclusiveMinimum" else "maximum"] = node[key]
                out[key] = True
        if "items" in node:
            out["items"] = self.schema(node["items"], f"{where}[]")
        if node.get("type") == "object" or "properties" in node:
            out.update(self._members(node, where))
        self._describe(node, out)
        return out

    def _nullable(self, node: JsonSchema, where: str) -> JsonSchema:
        branch = nullable_branch(node)
        if branch is None:
            raise UnsupportedSchemaError(
                f"{where}: a union Swagger 2.0 cannot express; describe it with an override"
            )
        outer = {k: v for k, v in node.items() if k != "anyOf"}
        if "$ref" in branch:
            name = self._ref_name(branch["$ref"], where)
            target = self._def(name)
            inner = self._enum(target, where) if "enum" in target else self.inline(name)
        else:
            inner = self.schema(branch, where)
        out = {**inner, "x-nullable": True}
        self._describe(outer, out)
        return out

    def _referenced(self, node: JsonSchema, where: str) -> JsonSchema:
        name = self._ref_name(node["$ref"], where)
        target = self._def(name)
        if "enum" in target:
            out = self._enum(target, where)
            self._describe(node, out)
            return out
        # A $ref admits no siblings in Swagger 2.0: what the property says of it is dropped
        # (the definition carries its own description).
        return self.reference(name)

    def _enum(self, target: JsonSchema, where: str) -> JsonSchema:
        out: JsonSchema = {k: target[k] for k in ("type", "enum", "description") if k in target}
        if set(target) - {"type", "enum", "description", "title"}:
            raise UnsupportedSchemaError(f"{where}: an enumeration with more than its values")
        return out

    def _members(self, node: JsonSchema, where: str) -> JsonSchema:
        out: JsonSchema = {"type": "object"}
        properties = node.get("properties") or {}
        if properties:
            out["properties"] = {
                prop: self.property_schema(sub, where, prop) for prop, sub in properties.items()
            }
        if node.get("required"):
            out["required"] = list(node["required"])
        extra = node.get("additionalProperties")
        if isinstance(extra, bool):
            out["additionalProperties"] = extra
        elif isinstance(extra, dict):
            out["additionalProperties"] = self.schema(extra, f"{where}{{}}")
        return out

    @staticmethod
    def _describe(node: JsonSchema, out: JsonSchema) -> None:
        """What a node says about its value: description, default, example."""
        if node.get("description"):
            out["description"] = node["description"]
        if node.get("default") is not None:
            out["default"] = node["default"]
        if node.get("examples"):
            out["example"] = node["examples"][0]

    def _object(self, node: JsonSchema, name: str) -> JsonSchema:
        if node.get("type") != "object":
            raise UnsupportedSchemaError(f"{name}: a named schema that is not an object")
        out = self.schema(node, name)
        if "title" in node and node["title"] != name:
            out = {"title": node["title"], **out}  # a model's own title, not its class name
        return out

    def _def(self, name: str) -> JsonSchema:
        if name not in self._defs:
            raise UnsupportedSchemaError(f"no schema for {name}")
        return copy.deepcopy(self._defs[name])

    def _learn(self, name: str, schema: JsonSchema) -> None:
        known = self._defs.get(name)
        if known is not None and known != schema:
            raise UnsupportedSchemaError(f"two different models are both called {name}")
        self._defs[name] = schema

    @staticmethod
    def _ref_name(ref: str, where: str) -> str:
        prefix = "#/$defs/"
        if not ref.startswith(prefix):
            raise UnsupportedSchemaError(f"{where}: a reference outside $defs ({ref})")
        return ref.removeprefix(prefix)
