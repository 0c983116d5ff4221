"""Protected targets: accounts this app refuses to reset, whoever asks.

With the application permission UserAuthenticationMethod.ReadWrite.All, Graph lets the app reset
anyone, Global Administrators included; social engineering of a service desk into resetting an
admin's MFA is a known attack path. So the app checks the target itself, before any write:
holders of any directory role (active, also through role-assignable groups, or PIM-eligible),
members of protected groups (transitively), and an explicit deny list. Only the operator's
settings can narrow this (roles allowed by template id); nothing in a request can.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.graph.contract import DirectoryUser, Gateway
from shared.settings import Settings


class TargetProtectedError(Exception):
    """The target is protected; nothing was changed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def describe(self) -> str:
        """One line for the ledger and the audit trail, the same wherever it was refused."""
        return f"protected target ({self.reason}): {self.detail}"


@dataclass(frozen=True)
class TargetPolicy:
    denied: frozenset[str]
    protected_group_ids: frozenset[str]
    allowed_role_template_ids: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        return cls(
            denied=frozenset(v.lower() for v in settings.denied_users),
            protected_group_ids=frozenset(v.lower() for v in settings.protected_group_ids),
            allowed_role_template_ids=frozenset(
                v.lower() for v in settings.allowed_role_template_ids
            ),
        )


# Protections on by default: every directory role protects its holder; no deny list or groups.
DEFAULT_POLICY = TargetPolicy(frozenset(), frozenset(), frozenset())


async def check_target(gateway: Gateway, user: DirectoryUser, policy: TargetPolicy) -> None:
    """Raise ``TargetProtectedError`` when ``user`` must not be reset by this app."""
    if {user.id.lower(), user.user_principal_name.lower()} & policy.denied:
        raise TargetProtectedError("denied", "the account is on the deny list")
    roles, eligible, groups = await asyncio.gather(
        gateway.directory_roles(user.id),
        gateway.eligible_role_ids(user.id),
        gateway.group_ids(user.id) if policy.protected_group_ids else _no_groups(),
    )
    active = [r for r in roles if r.template_id not in policy.allowed_role_template_ids]
    if active:
        names = ", ".join(sorted({r.name for r in active}))
        raise TargetProtectedError("directory-role", f"the account holds directory roles: {names}")
    if eligible - policy.allowed_role_template_ids:
        raise TargetProtectedError(
            "eligible-role", "the account is eligible for directory roles (PIM)"
        )
    if groups & policy.protected_group_ids:
        raise TargetProtectedError("protected-group", "the account is in a protected group")


async def _no_groups() -> set[str]:
    return set()


# ----------------------------------------------------------------------------------------------
# Callers.


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
