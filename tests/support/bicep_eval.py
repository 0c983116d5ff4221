"""Evaluating a few of a template's own expressions, to test what they compute.

No Bicep compiler or ARM runs here, yet some expressions carry logic worth testing on real
inputs (ALERT_EMAILS cleaned of empty entries, say; an app role found by its value in the
JSON text of a service principal's appRoles). This evaluates pycep-parser's view of an
expression for the handful of ARM functions such logic uses, with ARM's semantics for them;
anything else raises, so a template that starts to use another function fails its test rather
than passing untested. pycep renders a reference and a literal string alike (the name, unquoted):
a string that names a variable or parameter in scope is a reference, any other is a literal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any


def _string(value: Any) -> str:
    """ARM's string(): a string as it is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _substring(a: dict[str, Any]) -> str:
    """ARM's substring() fails rather than clamp a start or length out of range."""
    text, start, length = a["string_to_parse"], a["start_index"], a["length"]
    end = len(text) if length is None else start + length
    if start < 0 or start > len(text) or end < start or end > len(text):
        raise ValueError(f"substring({start}, {length}) of a string of {len(text)}")
    return str(text[start:end])


FUNCTIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "replace": lambda a: a["original_string"].replace(a["old_string"], a["new_string"]),
    # ARM's trim() removes leading and trailing whitespace.
    "trim": lambda a: a["string_to_trim"].strip(),
    "split": lambda a: a["input_string"].split(a["delimiter"]),
    "empty": lambda a: len(a["item_to_test"]) == 0,
    "string": lambda a: _string(a["value_to_convert"]),
    # ARM's indexOf() and lastIndexOf() compare case-insensitively; -1 when not found.
    "index_of": lambda a: a["string_to_search"].lower().find(a["string_to_find"].lower()),
    "last_index_of": lambda a: a["string_to_search"].lower().rfind(a["string_to_find"].lower()),
    "substring": _substring,
    "json": lambda a: json.loads(a["arg_1"]),
}
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda x, y: x + y,
    "substract": lambda x, y: x - y,  # pycep's spelling
    "and": lambda x, y: bool(x) and bool(y),
}


def evaluate(expression: Any, scope: Mapping[str, Any]) -> Any:
    if isinstance(expression, str):
        return scope.get(expression, expression)
    if isinstance(expression, bool | int) or expression is None:
        return expression
    if isinstance(expression, list):
        return [evaluate(item, scope) for item in expression]
    if "function" in expression:
        function = expression["function"]
        arguments = {k: evaluate(v, scope) for k, v in function["parameters"].items()}
        if function["type"] not in FUNCTIONS:
            raise NotImplementedError(f"function {function['type']}")
        return FUNCTIONS[function["type"]](arguments)
    operator = expression["operator"]
    operands = operator["operands"]
    if operator["type"] == "conditional":
        branch = "true_value" if evaluate(operands["condition"], scope) else "false_value"
        return evaluate(operands[branch], scope)
    if operator["type"] == "not":
        return not evaluate(operands["bool_value"], scope)
    if operator["type"] == "property_accessor":
        return evaluate(operands["operand_1"], scope)[operands["operand_2"]]
    if operator["type"] in OPERATORS:
        left, right = evaluate(operands["operand_1"], scope), evaluate(operands["operand_2"], scope)
        return OPERATORS[operator["type"]](left, right)
    raise NotImplementedError(f"operator {operator['type']}")


def variables(tree: dict[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Every variable of a template whose expression this module can evaluate, in order."""
    scope: dict[str, Any] = dict(parameters)
    for name, variable in tree["variables"].items():
        try:
            scope[name] = evaluate(variable["value"], scope)
        except (NotImplementedError, KeyError, TypeError, AttributeError, ValueError):
            continue
    return scope
