"""Callers: who is asking, and whether they may.

With App Service Authentication on, the platform authenticates the caller and passes the
principal in ``X-MS-CLIENT-PRINCIPAL``; the app decides what the caller's app roles allow.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.settings import Settings


class CallerRejectedError(Exception):
    """The caller may not do this; ``status`` is 401 (no identity) or 403 (no role)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Caller:
    """Who is calling: a function-key holder, or an Entra application signed in through App
    Service Authentication (its app roles come from the token)."""

    authenticated_by: str
    app_id: str | None = None
    name: str | None = None
    roles: frozenset[str] = frozenset()

    def to_audit(self) -> dict[str, Any]:
        return {"authenticated_by": self.authenticated_by, "app_id": self.app_id, "name": self.name}


FUNCTION_KEY_CALLER = Caller("function-key")
_ROLE_CLAIMS = {"roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"}


def identify_caller(headers: Mapping[str, str], *, roles_required: bool) -> Caller:
    """The caller as App Service Authentication describes it.

    The ``X-MS-CLIENT-PRINCIPAL`` header is only trusted when App Service Authentication is on
    (``roles_required``): then the platform strips any such header a client sends and sets its
    own. With it off, the function key is the only credential and the header is ignored.
    """
    if not roles_required:
        return FUNCTION_KEY_CALLER
    encoded = headers.get("x-ms-client-principal")
    if not encoded:
        raise CallerRejectedError(401, "no signed-in caller (App Service Authentication)")
    try:
        principal = json.loads(base64.b64decode(encoded, validate=True))
        if not isinstance(principal, dict):
            raise TypeError("the principal is not a JSON object")
        claims = [(str(c["typ"]), str(c["val"])) for c in principal.get("claims", [])]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise CallerRejectedError(401, "unreadable caller principal") from None
    role_types = _ROLE_CLAIMS | {str(principal.get("role_typ") or "roles")}
    values = dict(claims)
    return Caller(
        authenticated_by="app-service-authentication",
        app_id=values.get("appid") or values.get("azp"),
        name=headers.get("x-ms-client-principal-name") or values.get("name"),
        roles=frozenset(v for t, v in claims if t in role_types),
    )


def authorize_caller(caller: Caller, settings: Settings, *, dry_run: bool) -> None:
    """Execute needs the execute role; a dry run or a status read, either role."""
    if caller is FUNCTION_KEY_CALLER:
        return
    allowed = {settings.caller_execute_role}
    if dry_run:
        allowed.add(settings.caller_preview_role)
    if not caller.roles & allowed:
        raise CallerRejectedError(
            403, f"the caller needs the app role {' or '.join(sorted(allowed))}"
        )
