"""Small helpers shared by the tenant model, the Graph handlers and the HTTP layer."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

GRAPH_RESOURCE = "https://graph.microsoft.com"
# Graph's well-known application id; a token requested for it is as good as one for the URL.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"
EMAIL_METHOD_ID = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"
PHONE_METHOD_IDS: dict[str, str] = {
    "mobile": "3179e48a-750b-4051-897c-87b9720928f7",
    "alternateMobile": "b6332ec1-7057-4abe-9331-3d72feddfe41",
    "office": "e37fc753-ff3b-4958-9484-eaa9425c82bc",
}

GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# Namespace for ids derived from names, so a re-seeded tenant gets the same ids.
_ID_NAMESPACE = uuid.UUID("4f3c1a52-8d6e-4b1f-9a57-0c2d9e7b6a11")


class GraphError(Exception):
    """A Graph-shaped failure raised deep inside a handler and rendered once, at the edge.

    Raising keeps every rule in one place: the handler that knows *why* something fails
    does not also have to know how the envelope looks or which request id to echo.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner or {}
        self.headers = headers or {}


def new_guid() -> str:
    return str(uuid.uuid4())


def stable_guid(*parts: str) -> str:
    """A GUID derived from names, for objects whose id should survive a re-seed."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts)))


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Graph writes instants in UTC with a literal ``Z``; clients parse that, not ``+00:00``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> datetime:
    """Parse an OData DateTimeOffset; a value without offset is taken as UTC like Graph does."""
    dt = datetime.fromisoformat(value.replace("z", "Z"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def camel(name: str) -> str:
    """Map a Python keyword (``phone_number``) to its Graph property name (``phoneNumber``)."""
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
