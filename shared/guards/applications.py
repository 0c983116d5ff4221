"""Privileged applications: service principals that hold a directory role or a Microsoft Graph
application permission that leads to one, with everyone who owns them.

An owner of an app registration or of its service principal can add a credential to it and
sign in as the application, with every right it holds: a path to a role, so such owners are
protected like role holders (reason ``application-owner``). These are tenant-wide reads, the
same for every user, made in three steps (each needs the one before): who holds what (Graph's
app roles by value, the permissions granted on Graph's service principal, the directory roles
assigned to service principals); each privileged service principal with its owners; the
owners of its app registration, which a multi-tenant app registered elsewhere does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.graph.contract import Gateway, RoleGrant, ServicePrincipalRef
from shared.guards.reading import APPLICATIONS, ROLE_MANAGEMENT, named_read, together

# Graph application permissions that reach a directory role, or every account's credentials:
# granting roles or app roles, writing applications (add a credential to a more privileged
# one), writing the directory, resetting authentication methods, PIM assignments.
PRIVILEGED_PERMISSIONS = frozenset(
    {
        "RoleManagement.ReadWrite.Directory",
        "AppRoleAssignment.ReadWrite.All",
        "Application.ReadWrite.All",
        "UserAuthenticationMethod.ReadWrite.All",
        "Directory.ReadWrite.All",
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "RoleEligibilitySchedule.ReadWrite.Directory",
        "PrivilegedAccess.ReadWrite.AzureADGroup",
        "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
        "PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup",
    }
)


@dataclass(frozen=True)
class PrivilegedApp:
    """A service principal with privileged rights, and who owns it or its app registration."""

    service_principal: ServicePrincipalRef
    permissions: tuple[str, ...]
    roles: tuple[RoleGrant, ...]
    owner_ids: frozenset[str]


async def read_privileged_apps(gateway: Gateway) -> tuple[PrivilegedApp, ...]:
    """Every service principal holding a privileged Graph permission or a directory role,
    with the owners of it and of its app registration. Allowed roles are left to the check
    (they depend on the operator's policy, these reads do not)."""
    async with together() as first:
        app_roles = first.create_task(
            named_read("Microsoft Graph's app roles", APPLICATIONS, gateway.graph_app_roles())
        )
        grants = first.create_task(
            named_read(
                "the application permissions granted on Microsoft Graph",
                APPLICATIONS,
                gateway.graph_permission_grants(),
            )
        )
        roles = first.create_task(
            named_read(
                "the directory roles of service principals",
                ROLE_MANAGEMENT,
                gateway.service_principal_roles(),
            )
        )
    privileged = {i: v for i, v in app_roles.result().items() if v in PRIVILEGED_PERMISSIONS}
    permissions = {
        sp: tuple(sorted(privileged[r] for r in held if r in privileged))
        for sp, held in grants.result().items()
    }
    permissions = {sp: values for sp, values in permissions.items() if values}
    candidates = sorted(set(permissions) | set(roles.result()))
    async with together() as second:
        found = {
            sp: second.create_task(
                named_read(
                    "a privileged service principal and its owners",
                    APPLICATIONS,
                    gateway.service_principal(sp),
                    subject=sp,
                )
            )
            for sp in candidates
        }
    principals = [ref for task in found.values() if (ref := task.result()) is not None]
    async with together() as third:
        app_owners = {
            ref.id: third.create_task(
                named_read(
                    "the owners of a privileged application",
                    APPLICATIONS,
                    gateway.application_owner_ids(ref.app_id),
                    subject=ref.app_id,
                )
            )
            for ref in principals
            if ref.app_id and not ref.managed_identity
        }
    return tuple(
        PrivilegedApp(
            service_principal=ref,
            permissions=permissions.get(ref.id, ()),
            roles=tuple(roles.result().get(ref.id, ())),
            owner_ids=ref.owner_ids
            | (app_owners[ref.id].result() if ref.id in app_owners else frozenset()),
        )
        for ref in principals
    )
