"""The emulator's sendMail and manager, driven by the real msgraph-sdk and managed-identity
credential: what the notifier's Graph calls will see, errors included."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest
from azure.identity.aio import ManagedIdentityCredential
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.user import User
from msgraph.generated.users.item.manager.manager_request_builder import ManagerRequestBuilder
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
    SendMailPostRequestBody,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from emulator import GraphEmulator, Tenant
from emulator.demo import ADELE_ID, ALEX_ID

NOTIFY = "mfa-notify@contoso.example"


@pytest.fixture
async def sdk(graph_emulator: GraphEmulator) -> AsyncIterator[GraphServiceClient]:
    credential = ManagedIdentityCredential()
    auth = AzureIdentityAuthenticationProvider(
        credential,
        scopes=["https://graph.microsoft.com/.default"],
        allowed_hosts=["127.0.0.1"],
        is_cae_enabled=False,
    )
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = graph_emulator.base_url
    yield GraphServiceClient(request_adapter=adapter)
    await credential.close()


@pytest.fixture
def notify(tenant: Tenant) -> str:
    mailbox = tenant.add_shared_mailbox(NOTIFY)
    tenant.allow_send_as(mailbox.id)
    tenant.set_manager(ADELE_ID, ALEX_ID)
    return mailbox.id


def _message(to: str) -> SendMailPostRequestBody:
    return SendMailPostRequestBody(
        message=Message(
            subject="MFA reset requested",
            body=ItemBody(content_type=BodyType.Html, content="<p>Not you?</p>"),
            to_recipients=[Recipient(email_address=EmailAddress(address=to))],
        ),
        save_to_sent_items=False,
    )


async def test_sdk_send_mail_json(
    graph_emulator: GraphEmulator, sdk: GraphServiceClient, notify: str
) -> None:
    await sdk.users.by_user_id(NOTIFY).send_mail.post(_message("adele@fabrikam.example"))
    [mail] = graph_emulator.outbox.messages()
    assert (mail.sender, mail.to, mail.html) == (
        NOTIFY,
        ["adele@fabrikam.example"],
        "<p>Not you?</p>",
    )
    assert mail.save_to_sent_items is False


async def test_sdk_send_mail_outside_the_scope_raises(
    graph_emulator: GraphEmulator, sdk: GraphServiceClient, notify: str
) -> None:
    with pytest.raises(ODataError) as raised:
        await sdk.users.by_user_id(ADELE_ID).send_mail.post(_message("x@fabrikam.example"))
    assert raised.value.response_status_code == 403
    assert raised.value.error is not None and raised.value.error.code == "ErrorAccessDenied"
    assert len(graph_emulator.outbox) == 0


async def test_sdk_send_mail_mime_through_the_adapter(
    graph_emulator: GraphEmulator, sdk: GraphServiceClient, notify: str
) -> None:
    """The SDK has no MIME overload; a raw request through its adapter carries the token."""
    mime = EmailMessage()
    mime["To"] = "adele@fabrikam.example"
    mime["Subject"] = "Zoë, your MFA was reset"
    mime.set_content("Not you? Tell us.")
    mime.add_alternative(
        "<p>Not you? <a href='https://example.test/n/1'>Tell us</a></p>", subtype="html"
    )
    info = RequestInformation(Method.POST, f"{graph_emulator.base_url}/users/{NOTIFY}/sendMail")
    info.headers.try_add("Content-Type", "text/plain")
    info.content = base64.b64encode(mime.as_bytes())
    await sdk.request_adapter.send_no_response_content_async(info, {"XXX": ODataError})
    [mail] = graph_emulator.outbox.messages()
    assert mail.subject == "Zoë, your MFA was reset"
    assert mail.text == "Not you? Tell us.\n"
    assert mail.links() == ["https://example.test/n/1"]


async def test_sdk_manager_is_a_user(sdk: GraphServiceClient, notify: str) -> None:
    config = ManagerRequestBuilder.ManagerRequestBuilderGetRequestConfiguration(
        query_parameters=ManagerRequestBuilder.ManagerRequestBuilderGetQueryParameters(
            select=["id", "displayName", "mail", "userPrincipalName"]
        )
    )
    manager = await sdk.users.by_user_id(ADELE_ID).manager.get(request_configuration=config)
    assert isinstance(manager, User)
    assert (manager.id, manager.mail) == (ALEX_ID, "alex.wilber@contoso.example")


async def test_sdk_no_manager_raises_not_found(sdk: GraphServiceClient, notify: str) -> None:
    with pytest.raises(ODataError) as raised:
        await sdk.users.by_user_id(ALEX_ID).manager.get()
    assert raised.value.response_status_code == 404
    assert raised.value.error is not None
    assert raised.value.error.code == "Request_ResourceNotFound"
