"""The connector's Swagger 2.0 schemas as JSON Schema, for tests that validate real bodies."""

from __future__ import annotations

from typing import Any


def json_schema(node: Any) -> Any:
    """A Swagger 2.0 schema as JSON Schema draft 4, closed: ``x-nullable`` admits null, and an
    object documents every member it may have (``additionalProperties: false`` unless it says
    otherwise), so an undocumented field fails instead of passing unnoticed."""
    if isinstance(node, list):
        return [json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: json_schema(v) for k, v in node.items() if not k.startswith("x-") and k != "example"}
    if "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    if node.get("x-nullable"):
        if "$ref" in out:
            out = {"anyOf": [out, {"type": "null"}]}
        else:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
    return out
