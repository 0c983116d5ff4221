"""The function app as the host indexes it: once per process, like the worker does.

``FunctionApp.get_functions()`` refuses to build the same app twice, so every test module takes
the indexed functions from here.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any

import function_app


@functools.cache
def indexed() -> dict[str, Any]:
    """Function name -> the library's Function object (bindings, settings, user function)."""
    return {str(f.get_function_name()): f for f in function_app.app.get_functions()}


def handler(name: str) -> Any:
    """The Python function the host would invoke for ``name``."""
    return indexed()[name].get_user_function()


def output_queues(function: Any) -> dict[str, str]:
    """For a user function of the app: its queue output bindings, argument name -> queue name
    with app settings resolved (``%RESET_QUEUE_NAME%-callbacks`` -> ``mfa-resets-callbacks``).
    Empty for any other callable (the queue host's own tests use plain handlers)."""
    for f in indexed().values():
        if f.get_user_function() is function:
            return {
                str(b["name"]): _resolve(str(b["queueName"]))
                for b in json.loads(f.get_function_json())["bindings"]
                if b["type"] == "queue" and b["direction"] == "OUT"
            }
    return {}


def _resolve(expression: str) -> str:
    return re.sub(r"%([A-Za-z0-9_]+)%", lambda m: os.environ[m.group(1)], expression)
