"""The OData query options the emulator honours, shared by every collection it serves:
``$select``, ``$filter`` (``eq`` joined by ``and``), ``$top`` and ``$skiptoken`` paging,
and the rendering of mixed directoryObject collections.

One implementation keeps the resources consistent, the way Graph's own query layer is.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import quote

from ..model import (
    GROUP_PROPERTIES,
    USER_DEFAULT_PROPERTIES,
    USER_PROPERTIES,
    DirectoryRole,
    Group,
    User,
)
from .call import GraphCall, GraphResult, Service, fail

DEFAULT_PAGE = 100
MAX_PAGE = 999

_FILTER_CLAUSE = re.compile(
    r"\s*(?P<prop>[A-Za-z]+)\s+eq\s+(?P<value>'(?:[^']|'')*'|true|false)\s*", re.IGNORECASE
)
_QUERY_SAFE = "$,'()@:"


def query(call: GraphCall, name: str) -> str | None:
    """OData system query options, with or without the ``$`` (Graph v1.0 accepts both)."""
    if f"${name}" in call.query:
        return call.query[f"${name}"]
    return call.query.get(name)


def select(call: GraphCall) -> list[str] | None:
    raw = query(call, "select")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    return None if not names or "*" in names else names


def canonical(names: list[str], known: tuple[str, ...], type_name: str) -> list[str]:
    """``$select`` names as the type spells them; an unknown one is a 400, as in Graph."""
    lookup = {k.lower(): k for k in known}
    out: list[str] = []
    for name in names:
        found = lookup.get(name.lower())
        if found is None:
            fail(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
        out.append(found)
    return out


def parse_filter(text: str) -> list[tuple[str, str | bool]]:
    """Parse the only filter shape the emulator supports: ``a eq 'x' and b eq true``."""
    clauses: list[tuple[str, str | bool]] = []
    pos = 0
    while True:
        match = _FILTER_CLAUSE.match(text, pos)
        if match is None:
            fail(400, "BadRequest", f"Invalid filter clause: '{text}'.")
        raw = match.group("value")
        value: str | bool
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            value = raw[1:-1].replace("''", "'")
        clauses.append((match.group("prop"), value))
        pos = match.end()
        if pos >= len(text):
            return clauses
        joiner = re.compile(r"and\s+", re.IGNORECASE).match(text, pos)
        if joiner is None:
            fail(400, "BadRequest", f"Invalid filter clause: '{text}'.")
        pos = joiner.end()


def _encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"emu-offset:{offset}".encode()).decode().rstrip("=")


def _decode_skiptoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "emu-offset":
            raise ValueError(text)
        return max(0, int(number))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        fail(400, "Request_BadRequest", "Invalid skip token.")


def page(svc: Service, call: GraphCall, items: list[dict[str, Any]], context: str) -> GraphResult:
    """Serve one page; the next link is absolute and carries every other query option,
    because clients are told to follow it verbatim rather than rebuild it."""
    raw_top = query(call, "top")
    top = DEFAULT_PAGE
    if raw_top is not None:
        try:
            top = int(raw_top)
        except ValueError:
            top = -1
        if not 1 <= top <= MAX_PAGE:
            fail(
                400,
                "Request_BadRequest",
                f"Invalid page size specified: '{raw_top}'. Must be between 1 and "
                f"{MAX_PAGE} inclusive.",
            )
    top = min(top, svc.max_page_size)
    token = query(call, "skiptoken")
    offset = _decode_skiptoken(token) if token else 0
    body: dict[str, Any] = {"@odata.context": context}
    if offset + top < len(items):
        params = {k: v for k, v in call.query.items() if k not in ("$skiptoken", "skiptoken")}
        params["$skiptoken"] = _encode_skiptoken(offset + top)
        encoded = "&".join(
            f"{quote(k, safe='$')}={quote(v, safe=_QUERY_SAFE)}" for k, v in params.items()
        )
        body["@odata.nextLink"] = f"{svc.base_url}/{'/'.join(call.segments)}?{encoded}"
    body["value"] = items[offset : offset + top]
    return GraphResult(200, body)


def object_json(obj: User | Group | DirectoryRole, names: list[str] | None) -> dict[str, Any]:
    """One member of a directoryObject collection (memberOf, members, owners): typed with
    ``@odata.type``; ``$select`` names it does not have are left out rather than refused."""
    if isinstance(obj, User):
        full = {"@odata.type": "#microsoft.graph.user", **obj.to_json()}
        defaults: tuple[str, ...] = USER_DEFAULT_PROPERTIES
        known: tuple[str, ...] = USER_PROPERTIES
    elif isinstance(obj, Group):
        full = {"@odata.type": "#microsoft.graph.group", **obj.to_json()}
        defaults = known = GROUP_PROPERTIES
    else:
        full = obj.to_json()
        defaults = known = tuple(k for k in full if not k.startswith("@"))
    if names is None:
        return {"@odata.type": full["@odata.type"], **{k: full[k] for k in defaults}}
    lookup = {k.lower(): k for k in known}
    out = {"@odata.type": full["@odata.type"], "id": full["id"]}
    for name in names:
        found = lookup.get(name.lower())
        if found is not None:
            out[found] = full.get(found)
    return out
