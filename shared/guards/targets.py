"""Protected targets: accounts this app refuses to reset, whoever asks.

With the application permission UserAuthenticationMethod.ReadWrite.All, Graph lets the app reset
anyone, Global Administrators included; social engineering of a service desk into resetting an
admin's MFA is a known attack path. So the app checks the target itself, before any write, and
follows every path Entra offers to a directory role:

1. a role assigned to the user, active, at tenant scope or an administrative unit's, built-in or
   custom (``roleManagement/directory/roleAssignments``);
2. the same through a role-assignable group the user is a member of;
3. PIM eligibility for a role, for the user or for such a group;
4. PIM for Groups: eligibility for membership or ownership of a role-assignable group that
   holds or is eligible for a role, or ownership of such a group (an owner can add themselves);
5. membership of a restricted management administrative unit (Entra lets only administrators
   scoped to that unit change the account: refusing up front beats failing half-way).

Members (transitively), owners and PIM-eligible members or owners of ``PROTECTED_GROUP_IDS`` and
accounts in ``DENIED_USERS`` are refused too. Only the operator's settings can narrow this (roles
allowed by id); nothing in a request can. Every read the decision needs must succeed: a failed
read stops the reset before any write (``ProtectionReadError`` names the read and the
permission it needs).

Groups nested in a protected group count too: their owners and those PIM-eligible for them
can make themselves transitive members, so they are refused like the protected group's own.
So do owners of an application holding a directory role or a privileged Graph permission: they
can add a credential to it and act with its rights (``shared.guards.applications``).

Cost: the tenant-wide reads (``shared.guards.tenant``) start with the reset's first read; the
user-side reads go out once the user is known, beside the tenant-wide follow-ups; a further
round (two reads per group) only for users tied to role-assignable groups. The tenant-wide
reads are reused for a few minutes by the resets of a scheduled sweep, never by a webhook's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass

from shared.graph.contract import (
    DirectoryUser,
    Gateway,
    GroupEligibility,
    GroupRef,
    RoleGrant,
)
from shared.guards.reading import (
    GROUP_MEMBER,
    PIM_FOR_GROUPS,
    ROLE_MANAGEMENT,
    named_read,
    together,
)
from shared.guards.tenant import TENANT_READS_SECONDS, TenantReads, tenant_reads
from shared.settings import Settings

__all__ = [
    "GROUP_MEMBER",
    "PIM_FOR_GROUPS",
    "ROLE_MANAGEMENT",
    "TENANT_READS_SECONDS",
    "TenantReads",
]

# What a caller is told of each path: the kind, never which roles or groups. The detail (role
# names, scopes, groups) would map out the tenant's administrators to anyone allowed to ask;
# it stays in the ledger and the audit trail for the security team.
PATH_KINDS: dict[str, str] = {
    "denied": "the account is on the deny list",
    "restricted-management-unit": "the account is in a restricted management administrative unit",
    "directory-role": "the account holds a directory role",
    "eligible-role": "the account is eligible for a directory role (PIM)",
    "group-role": "the account holds a directory role through a role-assignable group",
    "group-eligible-role": "the account is eligible for a directory role through a group",
    "group-owner": "the account owns a role-assignable group with a directory role",
    "group-pim-eligibility": "the account may join or own a privileged group (PIM for Groups)",
    "protected-group": "the account is tied to a protected group",
    "application-owner": "the account owns an application with privileged rights",
}
_DESCRIBED = re.compile(r"^protected target \((?P<reason>[a-z-]+)\): ")
_READ_SUBJECT = re.compile(r" \[object [^\]]*\]")


class TargetProtectedError(Exception):
    """The target is protected; nothing was changed. ``reason`` names the path."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def describe(self) -> str:
        """One line for the ledger and the audit trail, the same wherever it was refused."""
        return f"protected target ({self.reason}): {self.detail}"

    def public(self) -> str:
        """What the caller is told: the path's kind only."""
        return f"protected account ({self.reason}): {PATH_KINDS[self.reason]}"


def public_refusal(text: str) -> str:
    """A ledger line as a status read may show it: a protected-target refusal loses its
    detail (role and group names), a failed protection read the id of the object it read;
    anything else is returned as it is."""
    match = _DESCRIBED.match(text)
    if match is None or match["reason"] not in PATH_KINDS:
        return _READ_SUBJECT.sub("", text)
    return f"protected account ({match['reason']}): {PATH_KINDS[match['reason']]}"


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

    def protecting(self, grants: Iterable[RoleGrant]) -> list[RoleGrant]:
        """The grants that protect: every role but those allowed (by template or role id)."""
        allowed = self.allowed_role_template_ids
        return [
            g
            for g in grants
            if g.template_id not in allowed and g.role_definition_id not in allowed
        ]


# Protections on by default: every directory role protects its holder; no deny list or groups.
DEFAULT_POLICY = TargetPolicy(frozenset(), frozenset(), frozenset())


def _names(grants: list[RoleGrant]) -> str:
    return ", ".join(sorted({f"{g.name}{g.scope_text}" for g in grants}))


async def check_target(
    gateway: Gateway,
    user: DirectoryUser,
    policy: TargetPolicy,
    *,
    reuse_tenant_reads: bool = False,
) -> None:
    """Raise ``TargetProtectedError`` when ``user`` must not be reset by this app, and
    ``ProtectionReadError`` when that cannot be decided (nothing is written either way).

    ``reuse_tenant_reads``: a scheduled sweep's resets may reuse the tenant-wide reads of a
    reset a few minutes earlier; a webhook request always reads afresh.
    """
    check_account(user, policy)
    paths = await read_paths(gateway, user.id, policy, reuse_tenant_reads=reuse_tenant_reads)
    await paths.check(gateway, policy)


def check_account(user: DirectoryUser, policy: TargetPolicy) -> None:
    """What the user object alone decides: the deny list and restricted management units."""
    if {user.id.lower(), user.user_principal_name.lower()} & policy.denied:
        raise TargetProtectedError("denied", "the account is on the deny list")
    if user.management_restricted:
        raise TargetProtectedError(
            "restricted-management-unit",
            "the account is in a restricted management administrative unit; only "
            "administrators scoped to that unit may change it",
        )


async def _awaited(tenant: Awaitable[TenantReads]) -> TenantReads:
    return await tenant


async def read_paths(
    gateway: Gateway,
    user_id: str,
    policy: TargetPolicy,
    *,
    reuse_tenant_reads: bool = False,
    tenant: Awaitable[TenantReads] | None = None,
) -> Paths:
    """Every read the decision needs that an object id is enough for, all at once (they
    leave as one batch, with whatever else the reset reads at the same moment). ``tenant``:
    the tenant-wide reads, already started (a reset starts them before it knows the user)."""
    uid = user_id.lower()
    if tenant is None:
        tenant = tenant_reads(gateway, policy.protected_group_ids, reuse=reuse_tenant_reads)
    async with together() as reads:
        assigned = reads.create_task(
            named_read(
                "the account's role assignments", ROLE_MANAGEMENT, gateway.role_assignments(uid)
            )
        )
        eligible = reads.create_task(
            named_read(
                "the account's PIM role eligibilities",
                ROLE_MANAGEMENT,
                gateway.role_eligibilities(uid),
            )
        )
        groups = reads.create_task(
            named_read("the account's group memberships", GROUP_MEMBER, gateway.member_groups(uid))
        )
        group_eligible = reads.create_task(
            named_read(
                "the account's PIM for Groups eligibilities",
                PIM_FOR_GROUPS,
                gateway.group_eligibilities(uid),
            )
        )
        tenant_task = reads.create_task(_awaited(tenant))
    return Paths(
        uid,
        assigned.result(),
        eligible.result(),
        groups.result(),
        group_eligible.result(),
        tenant_task.result(),
    )


@dataclass(frozen=True)
class Paths:
    """What ties the account to directory roles: its own role assignments and eligibilities,
    and its groups (membership, ownership, PIM for Groups eligibility)."""

    uid: str
    assigned: list[RoleGrant]
    eligible: list[RoleGrant]
    member_of: list[GroupRef]
    group_eligible: list[GroupEligibility]
    tenant: TenantReads

    async def check(self, gateway: Gateway, policy: TargetPolicy) -> None:
        """Raise for the first path that protects the account; reads the roles of tied
        role-assignable groups (a second round) only when there are such groups."""
        active = policy.protecting(self.assigned)
        if active:
            raise TargetProtectedError(
                "directory-role", f"the account holds directory roles: {_names(active)}"
            )
        may_activate = policy.protecting(self.eligible)
        if may_activate:
            raise TargetProtectedError(
                "eligible-role",
                f"the account is eligible for directory roles (PIM): {_names(may_activate)}",
            )
        self.check_application_owner(policy)
        self.check_protected_groups(policy)
        await self.check_group_roles(gateway, policy)

    def check_application_owner(self, policy: TargetPolicy) -> None:
        """An owner of a privileged application (or of its service principal) can add a
        credential to it and act with its rights."""
        for app in self.tenant.privileged_apps:
            roles = policy.protecting(app.roles)
            if self.uid not in app.owner_ids or not (app.permissions or roles):
                continue
            rights = ", ".join([*app.permissions, *sorted({g.name for g in roles})])
            raise TargetProtectedError(
                "application-owner",
                f"the account owns application '{app.service_principal.name}' (or its "
                f"service principal), which holds {rights}",
            )

    def check_protected_groups(self, policy: TargetPolicy) -> None:
        protected = policy.protected_group_ids
        if not protected:
            return
        if {g.id for g in self.member_of} & protected:
            raise TargetProtectedError("protected-group", "the account is in a protected group")
        if any(self.uid in owners for owners in self.tenant.protected_group_owners.values()):
            raise TargetProtectedError("protected-group", "the account owns a protected group")
        if {e.group_id for e in self.group_eligible} & protected:
            raise TargetProtectedError(
                "protected-group",
                "the account may activate membership or ownership of a protected group "
                "(PIM for Groups)",
            )
        # A nested group's owner can add themselves, and so join the protected group; PIM
        # for Groups may make the account a member or owner of a nested group.
        nested = self.tenant.nested_group_owners
        if any(self.uid in owners for owners in nested.values()):
            raise TargetProtectedError(
                "protected-group", "the account owns a group nested in a protected group"
            )
        if {e.group_id for e in self.group_eligible} & nested.keys():
            raise TargetProtectedError(
                "protected-group",
                "the account may activate membership or ownership of a group nested in a "
                "protected group (PIM for Groups)",
            )

    def ties(self) -> dict[str, list[str]]:
        """Role-assignable groups the account is tied to, and how."""
        ties: dict[str, list[str]] = {}
        for group in self.member_of:
            if group.role_assignable:
                ties.setdefault(group.id, []).append("member")
        for group in self.tenant.role_assignable.values():
            if self.uid in group.owner_ids:
                ties.setdefault(group.id, []).append("owner")
        for entry in self.group_eligible:
            if entry.group_id in self.tenant.role_assignable:
                ties.setdefault(entry.group_id, []).append(f"eligible-{entry.access}")
        return ties

    async def check_group_roles(self, gateway: Gateway, policy: TargetPolicy) -> None:
        """Paths 2-4: a role held or PIM-eligible through a role-assignable group the account
        is a member of, owns, or may join or own through PIM for Groups."""
        ties = self.ties()
        if not ties:
            return
        async with together() as reads:
            found = {
                g: (
                    reads.create_task(
                        named_read(
                            "the role assignments of a role-assignable group",
                            ROLE_MANAGEMENT,
                            gateway.role_assignments(g),
                            subject=g,
                        )
                    ),
                    reads.create_task(
                        named_read(
                            "the PIM role eligibilities of a role-assignable group",
                            ROLE_MANAGEMENT,
                            gateway.role_eligibilities(g),
                            subject=g,
                        )
                    ),
                )
                for g in ties
            }
        names = {g.id: g.name for g in (*self.member_of, *self.tenant.role_assignable.values())}
        for group_id in sorted(ties):
            active = policy.protecting(found[group_id][0].result())
            eligible = policy.protecting(found[group_id][1].result())
            if active or eligible:
                group = f"role-assignable group '{names.get(group_id, group_id)}'"
                raise _group_refusal(group, ties[group_id], active, eligible)


def _group_refusal(
    group: str, ways: list[str], active: list[RoleGrant], eligible: list[RoleGrant]
) -> TargetProtectedError:
    holds = (
        f"which holds directory roles: {_names(active)}"
        if active
        else f"which is eligible for directory roles (PIM): {_names(eligible)}"
    )
    if "member" in ways:
        reason = "group-role" if active else "group-eligible-role"
        return TargetProtectedError(reason, f"the account is a member of {group}, {holds}")
    if "owner" in ways:
        return TargetProtectedError(
            "group-owner", f"the account owns {group} (an owner can add themselves), {holds}"
        )
    access = "ownership" if "eligible-owner" in ways else "membership"
    return TargetProtectedError(
        "group-pim-eligibility",
        f"the account may activate {access} of {group} (PIM for Groups), {holds}",
    )
