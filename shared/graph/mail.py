"""What notifying the user needs of Graph: send a mail, find the manager, read the email method.

Mail goes out through ``POST /users/{sender}/sendMail`` in its MIME form (the body is the
base64 of a MIME message, ``Content-Type: text/plain``), so one message carries both a plain
text and an HTML part with the same facts; the JSON form carries only one body. The app may
send only as ``NOTIFY_SENDER``: Exchange Online's RBAC for Applications scopes the app's
``Mail.Send`` to that one mailbox (README), and a sender outside the scope is answered 403
``ErrorAccessDenied``.

The manager and the user's email authentication method are read before the reset changes
anything: the email method is deleted by the reset, and it is the one address the requester of
a fraudulent reset is least likely to control.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.manager.manager_request_builder import ManagerRequestBuilder

from shared.graph.contract import Contact, GraphError
from shared.graph.mapping import Json, request_id_of, response_headers

if TYPE_CHECKING:
    from msgraph.graph_service_client import GraphServiceClient

T = TypeVar("T")
Call = Callable[..., Awaitable[Any]]
Read = Callable[[RequestInformation], Awaitable[Json]]

_ERRORS: dict[str, Any] = {"XXX": ODataError}
_MANAGER_SELECT = ["id", "displayName", "mail", "userType"]


class GraphMail:
    def __init__(self, client: GraphServiceClient, call: Call, read: Read) -> None:
        self._client = client
        self._call = call
        self._read = read

    async def send_mail(self, sender: str, mime: bytes) -> str | None:
        """Send a MIME message as ``sender``; Graph's request-id of the call.

        Graph answers 202 (accepted, not yet delivered). Never retried here after a broken
        connection: the mail may have gone.
        """
        builder = self._client.users.by_user_id(sender).send_mail
        info = RequestInformation(Method.POST, builder.url_template, builder.path_parameters)
        info.headers.try_add("Content-Type", "text/plain")
        info.content = base64.b64encode(mime)
        seen, config = response_headers()
        info.add_request_options(config.options)
        adapter: Any = self._client.request_adapter
        await self._call(
            lambda: adapter.send_no_response_content_async(info, _ERRORS), idempotent=False
        )
        return request_id_of(seen)

    async def manager(self, user_id: str) -> Contact | None:
        """The user's manager, or None when they have none (Graph answers 404)."""
        builder = self._client.users.by_user_id(user_id).manager
        params = ManagerRequestBuilder.ManagerRequestBuilderGetQueryParameters(
            select=_MANAGER_SELECT
        )
        try:
            found = await self._read(
                builder.to_get_request_information(RequestConfiguration(query_parameters=params))
            )
        except GraphError as exc:
            if exc.not_found:
                return None
            raise
        if not found.get("id"):
            return None
        return Contact(
            id=str(found["id"]),
            display_name=found.get("displayName"),
            mail=found.get("mail") or None,
            user_type=found.get("userType"),
        )

    async def email_method_addresses(self, user_id: str) -> list[str]:
        """The addresses of the user's email authentication methods (the one used for
        self-service password reset), unmasked: a notification goes there."""
        builder = self._client.users.by_user_id(user_id).authentication.email_methods
        page = await self._read(builder.to_get_request_information())
        found = (str(m.get("emailAddress") or "") for m in page.get("value") or [])
        return [address for address in found if address]
