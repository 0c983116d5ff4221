"""The protection check's reads of the directory: role assignments and eligibilities, group
memberships and ownerships, PIM for Groups, groups nested in a group.

Kept apart from the reset's own calls (``gateway``) because they only read, and because the
check grows with every path to a role Entra offers.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

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
from msgraph.generated.users.item.transitive_member_of.graph_group.graph_group_request_builder import (  # noqa: E501
    GraphGroupRequestBuilder,
)

from shared.graph.contract import GroupEligibility, GroupRef, RoleGrant
from shared.graph.mapping import group_ref, role_grant
from shared.graph.reader import GraphReader

# Graph expands at most this many related objects ($expand=owners).
_MAX_EXPANDED = 20


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
