"""The protection check's reads of the directory: role assignments and eligibilities, group
memberships and ownerships, PIM for Groups, groups nested in a group.

Kept apart from the reset's own calls (``gateway``) because they only read, and because the
check grows with every path to a role Entra offers.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.groups.item.owners.owners_request_builder import OwnersRequestBuilder
from msgraph.generated.groups.item.transitive_members.transitive_members_request_builder import (
    TransitiveMembersRequestBuilder,
)
from msgraph.generated.identity_governance.privileged_access.group.eligibility_schedule_instances.eligibility_schedule_instances_request_builder import (  # noqa: E501
    EligibilityScheduleInstancesRequestBuilder,
)
from msgraph.generated.role_management.directory.role_assignments.role_assignments_request_builder import (  # noqa: E501
    RoleAssignmentsRequestBuilder,
)
from msgraph.generated.role_management.directory.role_eligibility_schedule_instances.role_eligibility_schedule_instances_request_builder import (  # noqa: E501
    RoleEligibilityScheduleInstancesRequestBuilder,
)
from msgraph.generated.service_principals.item.app_role_assigned_to.app_role_assigned_to_request_builder import (  # noqa: E501
    AppRoleAssignedToRequestBuilder,
)
from msgraph.generated.service_principals.item.owners.owners_request_builder import (
    OwnersRequestBuilder as ServicePrincipalOwnersRequestBuilder,
)
from msgraph.generated.service_principals_with_app_id.service_principals_with_app_id_request_builder import (  # noqa: E501
    ServicePrincipalsWithAppIdRequestBuilder,
)
from msgraph.generated.users.item.transitive_member_of.graph_group.graph_group_request_builder import (  # noqa: E501
    GraphGroupRequestBuilder,
)

from shared.graph.contract import (
    GraphError,
    GroupEligibility,
    GroupRef,
    RoleGrant,
    ServicePrincipalRef,
)
from shared.graph.mapping import group_ref, role_grant
from shared.graph.reader import GraphReader

# Graph expands at most this many related objects ($expand=owners).
_MAX_EXPANDED = 20
# Microsoft Graph's own application id, the same in every tenant.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_SERVICE_PRINCIPAL = "#microsoft.graph.servicePrincipal"


class ProtectionReads(GraphReader):
    """The reads ``shared.guards`` decides by."""

    async def role_assignments(self, principal_id: str) -> list[RoleGrant]:
        """Active assignments of the principal itself, at any scope, built-in or custom.

        Unlike ``memberOf/directoryRole`` this sees administrative-unit scopes and custom
        roles; a role held through a group lists the group as principal, so callers ask again
        for each role-assignable group.
        """
        builder = self._client.role_management.directory.role_assignments
        params = RoleAssignmentsRequestBuilder.RoleAssignmentsRequestBuilderGetQueryParameters(
            filter=f"principalId eq '{principal_id}'",  # an object id from Graph: a GUID
            expand=["roleDefinition"],
        )
        items = await self._all_pages(builder, RequestConfiguration(query_parameters=params))
        return [role_grant(principal_id, i) for i in items]

    async def role_eligibilities(self, principal_id: str) -> list[RoleGrant]:
        """Roles the principal may activate through PIM, at any scope."""
        builder = self._client.role_management.directory.role_eligibility_schedule_instances
        query = RoleEligibilityScheduleInstancesRequestBuilder
        params = query.RoleEligibilityScheduleInstancesRequestBuilderGetQueryParameters(
            filter=f"principalId eq '{principal_id}'", expand=["roleDefinition"]
        )
        items = await self._all_pages(builder, RequestConfiguration(query_parameters=params))
        return [role_grant(principal_id, i) for i in items]

    async def member_groups(self, user_id: str) -> list[GroupRef]:
        """Every group the user is a member of, directly or through nested groups."""
        builder = self._client.users.by_user_id(user_id).transitive_member_of.graph_group
        params = GraphGroupRequestBuilder.GraphGroupRequestBuilderGetQueryParameters(
            select=["id", "displayName", "isAssignableToRole"]
        )
        items = await self._all_pages(builder, RequestConfiguration(query_parameters=params))
        return [group_ref(g) for g in items if g.get("id")]

    async def group_eligibilities(self, principal_id: str) -> list[GroupEligibility]:
        """PIM for Groups: memberships and ownerships the principal may activate."""
        builder = self._client.identity_governance.privileged_access.group
        instances = builder.eligibility_schedule_instances
        query = EligibilityScheduleInstancesRequestBuilder
        params = query.EligibilityScheduleInstancesRequestBuilderGetQueryParameters(
            filter=f"principalId eq '{principal_id}'"
        )
        items = await self._all_pages(instances, RequestConfiguration(query_parameters=params))
        return [
            GroupEligibility(
                group_id=str(i["groupId"]).lower(), access=str(i.get("accessId") or "").lower()
            )
            for i in items
            if i.get("groupId")
        ]

    async def role_assignable_groups(self) -> list[GroupRef]:
        """Every role-assignable group of the tenant with its owners (an owner can add
        themselves). Entra allows at most 500 such groups, so this tenant-wide read is small.

        ``$expand`` returns at most 20 owners; a group showing 20 has its owners read in full.
        """
        params = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
            filter="isAssignableToRole eq true",
            select=["id", "displayName", "isAssignableToRole"],
            expand=["owners($select=id)"],
        )
        groups = await self._all_pages(
            self._client.groups, RequestConfiguration(query_parameters=params)
        )
        refs = [group_ref(g) for g in groups if g.get("id")]
        crowded = [r.id for r in refs if len(r.owner_ids) >= _MAX_EXPANDED]
        if crowded:
            owners = await asyncio.gather(*(self.group_owner_ids(g) for g in crowded))
            full = dict(zip(crowded, owners, strict=True))
            refs = [replace(r, owner_ids=full.get(r.id, r.owner_ids)) for r in refs]
        return refs

    async def group_owner_ids(self, group_id: str) -> frozenset[str]:
        builder = self._client.groups.by_group_id(group_id).owners
        params = OwnersRequestBuilder.OwnersRequestBuilderGetQueryParameters(select=["id"])
        items = await self._all_pages(builder, RequestConfiguration(query_parameters=params))
        return frozenset(str(o["id"]).lower() for o in items if o.get("id"))

    async def nested_group_ids(self, group_id: str) -> frozenset[str]:
        """The groups nested in this one at any depth (``transitiveMembers``).

        Not the ``microsoft.graph.group`` cast: Graph serves casts on this relationship only
        as an advanced query, from an index that may lag recent changes; a protection read
        takes every member's id and type and keeps the groups.
        """
        builder = self._client.groups.by_group_id(group_id).transitive_members
        query = TransitiveMembersRequestBuilder.TransitiveMembersRequestBuilderGetQueryParameters
        params = query(select=["id"], top=999)
        items = await self._all_pages(builder, RequestConfiguration(query_parameters=params))
        return frozenset(
            str(o["id"]).lower()
            for o in items
            if o.get("id") and o.get("@odata.type") == "#microsoft.graph.group"
        )

    # -- applications: an owner can add a credential and act with the service principal's rights

    async def graph_app_roles(self) -> dict[str, str]:
        """Microsoft Graph's application permissions in this tenant: app role id -> value
        (``servicePrincipals(appId=...)``; none if Graph's service principal is absent)."""
        builder = self._client.service_principals_with_app_id(GRAPH_APP_ID)
        query = ServicePrincipalsWithAppIdRequestBuilder
        params = query.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters(
            select=["id", "appRoles"]
        )
        try:
            sp = await self._read(
                builder.to_get_request_information(RequestConfiguration(query_parameters=params))
            )
        except GraphError as exc:
            if exc.not_found:
                return {}
            raise
        roles = sp.get("appRoles") or []
        return {str(r["id"]).lower(): str(r.get("value") or "") for r in roles if r.get("id")}

    async def graph_permission_grants(self) -> dict[str, frozenset[str]]:
        """Service principals granted Microsoft Graph application permissions: principal id
        -> app role ids (``appRoleAssignedTo`` of Graph's service principal, every page)."""
        url = (
            f"{self._base_url}/servicePrincipals(appId='{GRAPH_APP_ID}')/appRoleAssignedTo"
            "?$select=principalId,principalType,appRoleId"
        )
        builder = AppRoleAssignedToRequestBuilder(self._client.request_adapter, url)
        try:
            items = await self._all_pages(builder)
        except GraphError as exc:
            if exc.not_found:
                return {}
            raise
        grants: dict[str, set[str]] = {}
        for item in items:
            if str(item.get("principalType") or "") == "ServicePrincipal" and item.get("appRoleId"):
                principal = str(item["principalId"]).lower()
                grants.setdefault(principal, set()).add(str(item["appRoleId"]).lower())
        return {p: frozenset(r) for p, r in grants.items()}

    async def service_principal_roles(self) -> dict[str, list[RoleGrant]]:
        """Directory roles assigned to service principals: every role assignment of the
        tenant, its principal expanded to tell service principals from users and groups."""
        builder = self._client.role_management.directory.role_assignments
        params = RoleAssignmentsRequestBuilder.RoleAssignmentsRequestBuilderGetQueryParameters(
            expand=["principal"]
        )
        items = await self._all_pages(builder, RequestConfiguration(query_parameters=params))
        held: dict[str, list[RoleGrant]] = {}
        for item in items:
            principal = item.get("principal") or {}
            if principal.get("@odata.type") == _SERVICE_PRINCIPAL and item.get("principalId"):
                pid = str(item["principalId"]).lower()
                held.setdefault(pid, []).append(role_grant(pid, item))
        return held

    async def service_principal(self, sp_id: str) -> ServicePrincipalRef | None:
        """The service principal's application id, type and owners; None once deleted."""
        item = self._client.service_principals.by_service_principal_id(sp_id)
        owners = ServicePrincipalOwnersRequestBuilder.OwnersRequestBuilderGetQueryParameters(
            select=["id"]
        )
        try:
            sp, owner_items = await asyncio.gather(
                self._read(
                    item.to_get_request_information(
                        _select("id", "appId", "displayName", "servicePrincipalType")
                    )
                ),
                self._all_pages(item.owners, RequestConfiguration(query_parameters=owners)),
            )
        except GraphError as exc:
            if exc.not_found:
                return None
            raise
        return ServicePrincipalRef(
            id=sp_id.lower(),
            app_id=str(sp.get("appId") or "").lower(),
            name=str(sp.get("displayName") or sp_id),
            managed_identity=str(sp.get("servicePrincipalType") or "") == "ManagedIdentity",
            owner_ids=frozenset(str(o["id"]).lower() for o in owner_items if o.get("id")),
        )

    async def application_owner_ids(self, app_id: str) -> frozenset[str]:
        """Owners of the app registration with this application id. A multi-tenant app
        registered in another tenant has none here: Graph answers 404."""
        url = f"{self._base_url}/applications(appId='{app_id}')/owners?$select=id"
        builder = ServicePrincipalOwnersRequestBuilder(self._client.request_adapter, url)
        try:
            items = await self._all_pages(builder)
        except GraphError as exc:
            if exc.not_found:
                return frozenset()
            raise
        return frozenset(str(o["id"]).lower() for o in items if o.get("id"))


def _select(*names: str) -> RequestConfiguration[Any]:
    """``$select`` for a single item's GET."""
    from msgraph.generated.service_principals.item.service_principal_item_request_builder import (
        ServicePrincipalItemRequestBuilder,
    )

    query = ServicePrincipalItemRequestBuilder.ServicePrincipalItemRequestBuilderGetQueryParameters
    return RequestConfiguration(query_parameters=query(select=list(names)))
