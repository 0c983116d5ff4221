"""The step-by-step reset an admin script does, as the yardstick for the app's reset.

It is the manual procedure written with the real msgraph-sdk and the real
``azure.identity.aio.ManagedIdentityCredential``, one call at a time, each awaited before the
next: get the user, list the authentication methods, delete each one through its type's
endpoint (the password is never touched), delete again, after the others, what Graph refused
with 400 (the default method, the mobile phone while an alternate mobile exists), revoke the
sign-in sessions, then list the methods again and check only the password is left. It is built
like the app's client (``shared.graph.client``: the SDK's default middleware, the adapter's base
URL pointed at the emulator, the token scoped to and sent only to that host) but without the
app's batching transport, so the comparison measures the app's way of calling Graph, not a
different SDK set-up.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

PASSWORD_ODATA_TYPE = "#microsoft.graph.passwordAuthenticationMethod"


class ReferenceResetError(AssertionError):
    """The step-by-step reset did not leave the user with only the password."""


# Each method type's collection under /users/{id}/authentication and its item accessor in the
# SDK: Graph has no generic delete for authentication methods.
_ENDPOINTS: dict[str, tuple[str, str]] = {
    "phoneAuthenticationMethod": ("phone_methods", "by_phone_authentication_method_id"),
    "emailAuthenticationMethod": ("email_methods", "by_email_authentication_method_id"),
    "microsoftAuthenticatorAuthenticationMethod": (
        "microsoft_authenticator_methods",
        "by_microsoft_authenticator_authentication_method_id",
    ),
    "softwareOathAuthenticationMethod": (
        "software_oath_methods",
        "by_software_oath_authentication_method_id",
    ),
    "fido2AuthenticationMethod": ("fido2_methods", "by_fido2_authentication_method_id"),
    "windowsHelloForBusinessAuthenticationMethod": (
        "windows_hello_for_business_methods",
        "by_windows_hello_for_business_authentication_method_id",
    ),
}


def _item(auth: Any, odata_type: str, method_id: str) -> Any:
    """The request builder of one method at its type's own endpoint."""
    endpoint = _ENDPOINTS.get(odata_type.rsplit(".", 1)[-1])
    if endpoint is None:
        raise ReferenceResetError(f"the reference script has no delete endpoint for {odata_type}")
    collection, by_id = endpoint
    return getattr(getattr(auth, collection), by_id)(method_id)


class ReferenceAdmin:
    """A Graph client as an admin script builds it, and the reset it does with it."""

    def __init__(self, base_url: str) -> None:
        import httpx
        from azure.identity.aio import ManagedIdentityCredential
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph.graph_request_adapter import GraphRequestAdapter
        from msgraph.graph_service_client import GraphServiceClient
        from msgraph_core import GraphClientFactory

        parts = urlsplit(base_url)
        # The managed identity endpoint comes from IDENTITY_ENDPOINT / IDENTITY_HEADER.
        self._credential = ManagedIdentityCredential()
        auth = AzureIdentityAuthenticationProvider(
            self._credential,
            scopes=[f"{parts.scheme}://{parts.netloc}/.default"],
            allowed_hosts=[parts.hostname or ""],
            is_cae_enabled=False,
        )
        self._http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), http2=True)
        )
        adapter = GraphRequestAdapter(auth, client=self._http)
        adapter.base_url = base_url.rstrip("/")
        self._client = GraphServiceClient(request_adapter=adapter)

    async def close(self) -> None:
        await self._http.aclose()
        await self._credential.close()

    async def _methods(self, user_id: str) -> list[Any]:
        builder = self._client.users.by_user_id(user_id).authentication.methods
        page = await builder.get()
        methods: list[Any] = []
        while page is not None:
            methods.extend(page.value or [])
            if not page.odata_next_link:
                break
            page = await builder.with_url(page.odata_next_link).get()
        return methods

    async def reset(self, user: str) -> list[str]:
        """Reset ``user`` (UPN or object id) one call at a time; the method types left after it
        (only the password's, or ``ReferenceResetError`` is raised)."""
        from kiota_abstractions.api_error import APIError

        found = await self._client.users.by_user_id(user).get()
        if found is None or not found.id:
            raise ReferenceResetError(f"Graph returned no user for {user}")
        user_id = found.id
        auth = self._client.users.by_user_id(user_id).authentication
        pending = [m for m in await self._methods(user_id) if m.odata_type != PASSWORD_ODATA_TYPE]
        while pending:
            refused = []
            for method in pending:
                try:
                    await _item(auth, str(method.odata_type), str(method.id)).delete()
                except APIError as exc:
                    if exc.response_status_code == 404:
                        continue  # already gone: the goal
                    if exc.response_status_code != 400:
                        raise
                    refused.append(method)  # default, or mobile before alternate: try later
            if len(refused) == len(pending):
                kinds = sorted(str(m.odata_type) for m in refused)
                raise ReferenceResetError(f"Graph keeps refusing to delete {kinds}")
            pending = refused
        await self._client.users.by_user_id(user_id).revoke_sign_in_sessions.post()
        left = [str(m.odata_type) for m in await self._methods(user_id)]
        if left != [PASSWORD_ODATA_TYPE]:
            raise ReferenceResetError(f"after the reference reset {user} still has {left}")
        return left
