"""The narrow Graph API the reset needs, over msgraph-sdk (imported lazily by ``client``).

The engine speaks in users, methods and steps; this module (with ``mapping``, which reads the
SDK's models) is the only one that knows SDK request builders, Graph's addressing quirks and its
error envelope. Every SDK failure leaves here as a ``GraphError`` (or ``UserNotFoundError``)
carrying Graph's code and request-id, because those are what an admin needs to open a case with
Microsoft.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TypeVar
from urllib.parse import quote

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from msgraph.generated.groups.item.members.graph_user.graph_user_request_builder import (
    GraphUserRequestBuilder,
)
from msgraph.generated.models.authentication_phone_type import AuthenticationPhoneType
from msgraph.generated.models.phone_authentication_method import PhoneAuthenticationMethod
from msgraph.generated.models.temporary_access_pass_authentication_method import (
    TemporaryAccessPassAuthenticationMethod,
)
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.graph_service_client import GraphServiceClient

from shared.graph.contract import (
    CreatedPhone,
    CreatedTemporaryAccessPass,
    DirectoryUser,
    GraphError,
    TapPolicy,
    UserNotFoundError,
)
from shared.graph.directory import ProtectionReads
from shared.graph.mail import GraphMail
from shared.graph.mapping import (
    describe_method,
    directory_user,
    item_builder,
    request_id_of,
    response_headers,
)
from shared.graph.reader import raw_request
from shared.models import (
    V1_REMOVABLE_METHOD_TYPES,
    MethodType,
    PhoneType,
    RegisteredMethod,
    redact_phone_numbers,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
HARDWARE_OATH_ODATA_TYPE = MethodType.hardware_oath.odata_type

USER_SELECT = (
    "id",
    "userPrincipalName",
    "userType",
    "accountEnabled",
    "displayName",
    "isManagementRestricted",
    "mail",
    "givenName",
    "surname",
)


def _user_key_url(base_url: str, key: str) -> str:
    """URL of a user addressed by a ``$``-prefixed UPN, in the ``('...')`` form Graph documents.

    ``/users/$x@contoso.com`` fails with 400; inside the key literal a quote is doubled and ``#``
    (guests) must still be percent-encoded.
    """
    literal = quote(key.replace("'", "''"), safe="$@'!^~._-&+")
    return f"{base_url}/users('{literal}')?$select={','.join(USER_SELECT)}"


class GraphGateway(ProtectionReads):
    """The reset's calls, and the protection reads it inherits.

    ``beta_methods`` (GRAPH_BETA_METHODS) lets it unassign hardware OATH tokens through
    ``beta_url``: Graph has no v1.0 API for them, and Microsoft does not support beta in
    production, so it is the operator's choice.
    """

    def __init__(
        self,
        client: GraphServiceClient,
        base_url: str,
        *,
        beta_url: str,
        beta_methods: bool = False,
    ) -> None:
        super().__init__(client, base_url)
        self._mail = GraphMail(client, self._call, self._read)
        self._beta_url = beta_url.rstrip("/")
        self._beta_methods = beta_methods

    @property
    def removable_types(self) -> frozenset[MethodType]:
        """The method types this gateway can delete."""
        return frozenset(MethodType) if self._beta_methods else V1_REMOVABLE_METHOD_TYPES

    @property
    def mail(self) -> GraphMail:
        """sendMail, the manager and the email methods: what notifications need."""
        return self._mail

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
        """Every registered method but the password, following paging just in case.

        Graph v1.0 lists "only the methods supported on this API version", which leaves out
        hardware OATH tokens; they are read through beta at the same moment (the same round).
        """
        builder = self._client.users.by_user_id(user_id).authentication.methods
        listed, tokens = await asyncio.gather(
            self._all_pages(builder), self._hardware_tokens(user_id)
        )
        seen = {str(m.get("id")) for m in listed}
        listed += [
            {"@odata.type": HARDWARE_OATH_ODATA_TYPE, **token}
            for token in tokens
            if str(token.get("id")) not in seen
        ]
        methods = map(describe_method, listed)
        return [m for m in methods if m is not None]

    async def _hardware_tokens(self, user_id: str) -> list[dict[str, object]]:
        """The user's hardware OATH tokens, read through beta (a read, so also without
        GRAPH_BETA_METHODS: a reset that could not remove a token is then refused before any
        change instead of failing halfway). Without the setting a failed read is not the
        reset's failure: it goes on with what v1.0 lists, as it would without this read."""
        url = f"{self._beta_url}/users/{quote(user_id, safe='')}/authentication/hardwareOathMethods"
        try:
            return await self._pages(raw_request(Method.GET, url))
        except GraphError as exc:
            if self._beta_methods:
                raise
            log.warning(
                "could not read the user's hardware OATH tokens through Graph beta (%s %s); "
                "going on with the methods v1.0 lists",
                exc.status,
                exc.code,
            )
            return []

    async def group_user_members(self, group_id: str) -> list[DirectoryUser]:
        """The group's direct members that are users, every page of them."""
        builder = self._client.groups.by_group_id(group_id).members.graph_user
        params = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(
            select=["id", "userPrincipalName", "userType", "mail", "givenName"], top=999
        )
        return [
            DirectoryUser(
                id=str(user["id"]),
                user_principal_name=user.get("userPrincipalName") or str(user["id"]),
                user_type=user.get("userType"),
                account_enabled=None,
                display_name=None,
                mail=user.get("mail") or None,
                given_name=user.get("givenName") or None,
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
        if method.type not in self.removable_types:
            raise ValueError(f"{method.odata_type} cannot be deleted by this gateway")
        seen, config = response_headers()
        user = f"users/{quote(user_id, safe='')}/authentication"
        if method.type is MethodType.hardware_oath:
            # Unassigns the token: it stays in the tenant's inventory.
            token = quote(method.id, safe="")
            await self._delete(f"{self._beta_url}/{user}/hardwareOathMethods/{token}", seen)
        elif method.type is MethodType.qr_code_pin:
            # v1.0 (documented 2026), a singleton per user; the pinned SDK has no builder.
            await self._delete(f"{self._base_url}/{user}/qrCodePinMethod", seen)
        elif method.type is not None:
            auth = self._client.users.by_user_id(user_id).authentication
            builder = item_builder(auth, method.type, method.id)
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
