"""Evaluating a few of a template's own expressions, to test what they compute.

No Bicep compiler or ARM runs here, yet some expressions carry logic worth testing on real
inputs (ALERT_EMAILS cleaned of empty entries, say). This evaluates pycep-parser's view of an
expression for the handful of ARM functions such logic uses, with ARM's semantics for them;
anything else raises, so a template that starts to use another function fails its test rather
than passing untested. pycep renders a reference and a literal string alike (the name, unquoted):
a string that names a variable or parameter in scope is a reference, any other is a literal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

FUNCTIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "replace": lambda a: a["original_string"].replace(a["old_string"], a["new_string"]),
    # ARM's trim() removes leading and trailing whitespace.
    "trim": lambda a: a["string_to_trim"].strip(),
    "split": lambda a: a["input_string"].split(a["delimiter"]),
    "empty": lambda a: len(a["item_to_test"]) == 0,
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
    raise NotImplementedError(f"operator {operator['type']}")


def variables(tree: dict[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Every variable of a template whose expression this module can evaluate, in order."""
    scope: dict[str, Any] = dict(parameters)
    for name, variable in tree["variables"].items():
        try:
            scope[name] = evaluate(variable["value"], scope)
        except (NotImplementedError, KeyError, TypeError, AttributeError):
            continue
    return scope
