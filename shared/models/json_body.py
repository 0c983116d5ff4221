"""JSON bodies with every key once: a key given twice is refused, not settled by its last value.

JSON leaves duplicate names to the parser (RFC 8259: "the names within an object SHOULD be
unique"), and parsers disagree: most keep the last value, some the first, a proxy or a web
application firewall may read another than the app. A body whose ``user`` a gateway sees as one
person and the app as another is a way past whatever the gateway checks; so the app refuses
such a body outright, naming where the duplicate is. The model's own strict validation then
reads the body as before.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Location = tuple[str | int, ...]


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the names it was given more than once."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        repeated: dict[str, None] = {}
        for name, _ in pairs:
            if name in seen:
                repeated[name] = None
            seen.add(name)
        obj.duplicates = tuple(repeated)
    return obj


def duplicate_keys(body: bytes) -> list[Location]:
    """Where a name appears twice in one object of ``body``, outermost first; ``[]`` for a
    body that is not JSON at all (the model's validation says what is wrong with it)."""
    try:
        document = json.loads(body, object_pairs_hook=_object)
    except (ValueError, RecursionError):
        return []
    found: list[Location] = []
    # Iterative: a body of 64 KiB can nest deeper than the interpreter's recursion limit.
    pending: deque[tuple[Any, Location]] = deque([(document, ())])
    while pending:
        node, location = pending.popleft()
        if isinstance(node, _Object):
            found.extend((*location, name) for name in node.duplicates)
            pending.extend((value, (*location, name)) for name, value in node.items())
        elif isinstance(node, list):
            pending.extend((value, (*location, i)) for i, value in enumerate(node))
    return found


def refuse_duplicate_keys(body: bytes, title: str) -> None:
    """Raise a ``ValidationError`` (one error per duplicate, at its location, the value never
    included) when ``body`` gives a name twice in an object."""
    duplicates = duplicate_keys(body)
    if duplicates:
        error = PydanticCustomError("duplicate_key", "is given more than once")
        details = [InitErrorDetails(type=error, loc=loc, input=None) for loc in duplicates]
        raise ValidationError.from_exception_data(title, details)
