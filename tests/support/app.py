"""The function app as the host indexes it: once per process, like the worker does.

``FunctionApp.get_functions()`` refuses to build the same app twice, so every test module takes
the indexed functions from here.
"""

from __future__ import annotations

import functools
from typing import Any

import function_app


@functools.cache
def indexed() -> dict[str, Any]:
    """Function name -> the library's Function object (bindings, settings, user function)."""
    return {str(f.get_function_name()): f for f in function_app.app.get_functions()}


def handler(name: str) -> Any:
    """The Python function the host would invoke for ``name``."""
    return indexed()[name].get_user_function()
