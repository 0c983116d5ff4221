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
from dataclasses import dataclass

from shared.graph.contract import DirectoryUser, Gateway
from shared.settings import Settings


class TargetProtectedError(Exception):
    """The target is protected; nothing was changed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


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
