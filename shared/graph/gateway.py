"""The narrow Graph API the reset needs, over msgraph-sdk (imported lazily by ``client``).

The engine speaks in users, methods and steps; this module (with ``mapping``, which reads the
SDK's models) is the only one that knows SDK request builders, Graph's addressing quirks and its
error envelope. Every SDK failure leaves here as a ``GraphError`` (or ``UserNotFoundError``)
carrying Graph's code and request-id, because those are what an admin needs to open a case with
Microsoft.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
from azure.core.exceptions import ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.groups.item.members.graph_user.graph_user_request_builder import (
    GraphUserRequestBuilder,
)
from msgraph.generated.groups.item.owners.owners_request_builder import OwnersRequestBuilder
from msgraph.generated.identity_governance.privileged_access.group.eligibility_schedule_instances.eligibility_schedule_instances_request_builder import (  # noqa: E501
    EligibilityScheduleInstancesRequestBuilder,
)
from msgraph.generated.models.authentication_phone_type import AuthenticationPhoneType
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.phone_authentication_method import PhoneAuthenticationMethod
from msgraph.generated.models.temporary_access_pass_authentication_method import (
    TemporaryAccessPassAuthenticationMethod,
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
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.graph_service_client import GraphServiceClient

from shared.graph.contract import (
    CreatedPhone,
    CreatedTemporaryAccessPass,
    DirectoryUser,
    GraphError,
    GroupEligibility,
    GroupRef,
    RoleGrant,
    TapPolicy,
    UserNotFoundError,
)
from shared.graph.mapping import (
    Json,
    describe_method,
    directory_user,
    graph_error,
    group_ref,
    item_builder,
    request_id_of,
    response_headers,
    role_grant,
)
from shared.models import (
    PhoneType,
    RegisteredMethod,
    redact_phone_numbers,
)

if TYPE_CHECKING:
    from kiota_abstractions.request_information import RequestInformation

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_SELECT = (
    "id",
    "userPrincipalName",
    "userType",
    "accountEnabled",
    "displayName",
    "isManagementRestricted",
)
# Graph expands at most this many related objects ($expand=owners).
_MAX_EXPANDED = 20
# How the SDK's own request builders map a failed answer: Graph's error envelope.
_ERRORS: dict[str, Any] = {"XXX": ODataError}


def _user_key_url(base_url: str, key: str) -> str:
    """URL of a user addressed by a ``$``-prefixed UPN, in the ``('...')`` form Graph documents.

    ``/users/$x@contoso.com`` fails with 400; inside the key literal a quote is doubled and ``#``
    (guests) must still be percent-encoded.
    """
    literal = quote(key.replace("'", "''"), safe="$@'!^~._-&+")
    return f"{base_url}/users('{literal}')?$select={','.join(USER_SELECT)}"


class GraphGateway:
    """Async calls against Graph v1.0 with the app's managed identity."""

    def __init__(self, client: GraphServiceClient, base_url: str) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")

    async def _call(self, operation: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Run one SDK call; map its failures to ``GraphError``.

        The SDK retries 429/503/504 answers itself. A connection that breaks before any answer
        is retried here once, but only for reads and deletes: a repeated POST could issue a
        second Temporary Access Pass (replacing the first) or fail on a phone it already added.
        """
        attempts = 2 if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                return await operation()
            except APIError as exc:
                raise graph_error(exc) from None
            except ClientAuthenticationError as exc:
                # The message says which identity endpoint failed; it holds no token.
                raise GraphError(
                    None, "managedIdentityTokenUnavailable", str(exc.message)
                ) from None
            except httpx.TimeoutException:
                if attempt == attempts:
                    raise GraphError(None, "timeout", "Graph did not answer in time") from None
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise GraphError(None, "connectionFailed", type(exc).__name__) from None
            log.warning("Graph connection failed; trying once more")
        raise AssertionError("unreachable")

    async def get_user(self, key: str) -> DirectoryUser:
        if key.startswith("$"):
            builder = UserItemRequestBuilder(
                self._client.request_adapter, _user_key_url(self._base_url, key)
            )
            config = None
        else:
            builder = self._client.users.by_user_id(key)
            params = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
                select=list(USER_SELECT)
            )
            config = RequestConfiguration(query_parameters=params)
        try:
            user = await self._read(builder.to_get_request_information(config))
        except GraphError as exc:
            if exc.not_found:
                raise UserNotFoundError(key, exc.request_id) from None
            raise
        if not user.get("id"):
            raise GraphError(200, "emptyResponse", "Graph returned no user")
        return directory_user(user, key)

    async def tap_policy(self) -> TapPolicy:
        """The Temporary Access Pass policy (``Policy.Read.AuthenticationMethod``): read before
        any change, so a reset Graph would refuse the pass for changes nothing."""
        builder = (
            self._client.policies.authentication_methods_policy.authentication_method_configurations
        ).by_authentication_method_configuration_id("TemporaryAccessPass")
        policy = await self._read(builder.to_get_request_information())
        targets = {
            str(t.get("id") or "").lower()
            for t in policy.get("includeTargets") or []
            if t.get("targetType", "group") == "group"
        }
        excluded = frozenset(
            str(t.get("id") or "").lower()
            for t in policy.get("excludeTargets") or []
            if t.get("targetType", "group") == "group" and t.get("id")
        )
        return TapPolicy(
            enabled=str(policy.get("state") or "").lower() == "enabled",
            minimum_lifetime=int(policy.get("minimumLifetimeInMinutes") or 10),
            maximum_lifetime=int(policy.get("maximumLifetimeInMinutes") or 43200),
            usable_once=bool(policy.get("isUsableOnce")),
            include_group_ids=None if "all_users" in targets else frozenset(targets),
            exclude_group_ids=excluded,
        )

    async def list_methods(self, user_id: str) -> list[RegisteredMethod]:
        """Every registered method but the password, following paging just in case."""
        builder = self._client.users.by_user_id(user_id).authentication.methods
        methods = map(describe_method, await self._all_pages(builder))
        return [m for m in methods if m is not None]

    async def _read(self, request: RequestInformation) -> Json:
        """One GET through the SDK's request adapter (authentication, the retry handler,
        telemetry, the error mapping), its answer read as Graph's JSON.

        Not parsed into SDK models: msgraph builds each object's deserializer table from
        ``Entity``'s, thousands of entries rebuilt per object, about 20 ms of CPU for every
        method, group or role assignment - more than a round trip, on the path every reset
        takes.
        """
        adapter: Any = self._client.request_adapter
        body: bytes | None = await self._call(
            lambda: adapter.send_primitive_async(request, "bytes", _ERRORS), idempotent=True
        )
        answer: Any = json.loads(body) if body else {}
        return answer if isinstance(answer, dict) else {}

    async def _all_pages(self, builder: Any, config: Any = None) -> list[Json]:
        """Every item of a collection, following ``@odata.nextLink`` to the end."""
        page = await self._read(builder.to_get_request_information(config))
        items: list[Json] = list(page.get("value") or [])
        while next_link := page.get("@odata.nextLink"):
            page = await self._read(builder.with_url(next_link).to_get_request_information())
            items.extend(page.get("value") or [])
        return items

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

    async def group_user_members(self, group_id: str) -> list[DirectoryUser]:
        """The group's direct members that are users, every page of them."""
        builder = self._client.groups.by_group_id(group_id).members.graph_user
        params = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(
            select=["id", "userPrincipalName", "userType"], top=999
        )
        return [
            DirectoryUser(
                id=str(user["id"]),
                user_principal_name=user.get("userPrincipalName") or str(user["id"]),
                user_type=user.get("userType"),
                account_enabled=None,
                display_name=None,
            )
            for user in await self._all_pages(
                builder, RequestConfiguration(query_parameters=params)
            )
            if user.get("id")
        ]

    async def remove_group_member(self, group_id: str, member_id: str) -> bool:
        """Remove the membership, never the member: always through ``/$ref``.

        Without ``/$ref`` the same DELETE deletes the user object itself. Returns False when
        the user was no longer a member.
        """
        member = self._client.groups.by_group_id(group_id).members.by_directory_object_id(member_id)
        try:
            await self._call(member.ref.delete, idempotent=True)
        except GraphError as exc:
            if exc.not_found:
                return False
            raise
        return True

    async def delete_method(self, user_id: str, method: RegisteredMethod) -> str | None:
        if method.type is None:
            raise ValueError(f"{method.odata_type} has no delete endpoint in Graph v1.0")
        auth = self._client.users.by_user_id(user_id).authentication
        builder = item_builder(auth, method.type, method.id)
        seen, config = response_headers()
        await self._call(lambda: builder.delete(request_configuration=config), idempotent=True)
        return request_id_of(seen)

    async def revoke_sessions(self, user_id: str) -> str | None:
        builder = self._client.users.by_user_id(user_id).revoke_sign_in_sessions
        seen, config = response_headers()
        # Revoking twice is harmless: the second only moves the validity date a moment later.
        response = await self._call(
            lambda: builder.post(request_configuration=config), idempotent=True
        )
        # Graph documents 204 but answers 200 {"value": true}; both are success, false is not.
        if response is not None and response.value is False:
            raise GraphError(200, "revokeNotConfirmed", "Graph answered value=false")
        return request_id_of(seen)

    async def add_phone(self, user_id: str, number: str, phone_type: PhoneType) -> CreatedPhone:
        body = PhoneAuthenticationMethod(
            phone_number=number, phone_type=AuthenticationPhoneType(phone_type.value)
        )
        builder = self._client.users.by_user_id(user_id).authentication.phone_methods
        seen, config = response_headers()
        try:
            created = await self._call(
                lambda: builder.post(body, request_configuration=config), idempotent=False
            )
        except GraphError as exc:
            raise replace(exc, message=redact_phone_numbers(exc.message)) from None
        if created is None or not created.id:
            raise GraphError(200, "emptyResponse", "Graph returned no phone method")
        return CreatedPhone(id=created.id, request_id=request_id_of(seen))

    async def create_temporary_access_pass(
        self, user_id: str, lifetime_minutes: int, usable_once: bool
    ) -> CreatedTemporaryAccessPass:
        body = TemporaryAccessPassAuthenticationMethod(
            lifetime_in_minutes=lifetime_minutes, is_usable_once=usable_once
        )
        builder = self._client.users.by_user_id(user_id).authentication
        seen, config = response_headers()
        created = await self._call(
            lambda: builder.temporary_access_pass_methods.post(body, request_configuration=config),
            idempotent=False,
        )
        if created is None or not created.id or not created.temporary_access_pass:
            raise GraphError(200, "emptyResponse", "Graph returned no Temporary Access Pass")
        return CreatedTemporaryAccessPass(
            id=created.id,
            value=created.temporary_access_pass,
            lifetime_minutes=created.lifetime_in_minutes or lifetime_minutes,
            usable_once=bool(created.is_usable_once),
            starts_at=created.start_date_time,
            request_id=request_id_of(seen),
        )
