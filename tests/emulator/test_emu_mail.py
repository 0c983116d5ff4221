"""sendMail: both documented forms, the outbox, and every refusal the app must survive."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from emulator import Fault, GraphEmulator, Tenant, extract_links
from emulator.demo import ADELE_ID, DIEGO_ID, MEGAN_ID
from tests.emulator.emu_helpers import ADELE, assert_graph_error

NOTIFY = "mfa-notify@contoso.example"
PAGE = "https://mfa-reset.example/api/notice/tok-123"


@pytest.fixture
def sender(tenant: Tenant) -> str:
    """A shared mailbox in the app's RBAC for Applications scope."""
    mailbox = tenant.add_shared_mailbox(NOTIFY, display_name="MFA reset notices")
    tenant.allow_send_as(mailbox.id)
    return mailbox.id


def _json_mail(to: str = "adele@fabrikam.example", **extra: Any) -> dict[str, Any]:
    return {
        "message": {
            "subject": "MFA reset requested",
            "body": {"contentType": "Text", "content": f"Not you? {PAGE}"},
            "toRecipients": [{"emailAddress": {"address": to}}],
            "ccRecipients": [{"emailAddress": {"address": "alex.wilber@contoso.example"}}],
            **extra,
        },
        "saveToSentItems": "false",
    }


def _mime(*, to: str = "adele@fabrikam.example", html: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = f"MFA reset notices <{NOTIFY}>"
    message["To"] = f"Adele Vance <{to}>, {ADELE}"
    message["Subject"] = "Your MFA was reset"
    message["X-Reset-Id"] = "r-42"
    message.set_content(f"Not you? Open {PAGE}\n")
    message.add_alternative(
        html or f'<p>Not you? <a href="{PAGE}?a=1&amp;b=2">Tell us</a></p>', subtype="html"
    )
    return base64.encodebytes(message.as_bytes())  # wrapped at 76 columns, like the doc


def test_json_send_is_accepted_and_lands_in_the_outbox(
    emu: GraphEmulator, client: httpx.Client, sender: str
) -> None:
    response = client.post(f"/users/{NOTIFY}/sendMail", json=_json_mail())
    assert response.status_code == 202, response.text
    assert response.content == b""
    [mail] = emu.outbox.messages()
    assert (mail.sender, mail.sender_id, mail.form) == (NOTIFY, sender, "json")
    assert mail.to == ["adele@fabrikam.example"]
    assert mail.cc == ["alex.wilber@contoso.example"]
    assert mail.recipients == ["adele@fabrikam.example", "alex.wilber@contoso.example"]
    assert mail.subject == "MFA reset requested"
    assert mail.text == f"Not you? {PAGE}"
    assert mail.html is None
    assert mail.save_to_sent_items is False
    assert mail.links() == [PAGE]
    assert emu.outbox.to("ALEX.wilber@contoso.example") == [mail]
    assert emu.outbox.to("nobody@contoso.example") == []


def test_json_html_body_and_headers(emu: GraphEmulator, client: httpx.Client, sender: str) -> None:
    body = _json_mail(
        body={"contentType": "html", "content": f'<a href="{PAGE}">x</a>'},
        internetMessageHeaders=[{"name": "x-reset-id", "value": "r-1"}],
    )
    body.pop("saveToSentItems")
    assert client.post(f"/users/{sender}/sendMail", json=body).status_code == 202
    [mail] = emu.outbox
    assert mail.text is None
    assert mail.html == f'<a href="{PAGE}">x</a>'
    assert mail.headers == {"x-reset-id": "r-1"}
    assert mail.save_to_sent_items is True
    assert mail.links() == [PAGE]


def test_action_parameters_match_without_case(
    emu: GraphEmulator, client: httpx.Client, sender: str
) -> None:
    """msgraph-sdk-python writes ``Message`` and ``SaveToSentItems``."""
    body = {"Message": _json_mail()["message"], "SaveToSentItems": False}
    assert client.post(f"/users/{NOTIFY}/sendMail", json=body).status_code == 202
    body = {"Message": _json_mail()["message"], "SaveToSentItems": None}
    assert client.post(f"/users/{NOTIFY}/sendMail", json=body).status_code == 202
    assert [m.save_to_sent_items for m in emu.outbox] == [False, True]


def test_mime_send_is_decoded(emu: GraphEmulator, client: httpx.Client, sender: str) -> None:
    response = client.post(
        f"/users/{NOTIFY}/sendMail", content=_mime(), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 202, response.text
    assert response.content == b""
    [mail] = emu.outbox.messages()
    assert mail.form == "mime"
    assert mail.sender == NOTIFY
    assert mail.from_address == NOTIFY
    assert mail.to == ["adele@fabrikam.example", ADELE]
    assert mail.subject == "Your MFA was reset"
    assert mail.text == f"Not you? Open {PAGE}\n"
    assert mail.html is not None and "Tell us" in mail.html
    assert mail.headers["X-Reset-Id"] == "r-42"
    assert mail.headers["Content-Type"].startswith("multipart/alternative")
    assert mail.links() == [PAGE, f"{PAGE}?a=1&b=2"]


@pytest.mark.parametrize("body", [b"not base64 at all!", b"", b"QUJD\x00"])
def test_mime_that_is_not_base64_is_refused(
    emu: GraphEmulator, client: httpx.Client, sender: str, body: bytes
) -> None:
    response = client.post(
        f"/users/{NOTIFY}/sendMail", content=body, headers={"Content-Type": "text/plain"}
    )
    error = assert_graph_error(response, 400, "ErrorMimeContentInvalidBase64String")
    assert error["message"] == "Invalid base64 string for MIME content."
    assert len(emu.outbox) == 0


def test_sender_outside_the_rbac_scope_is_denied(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client, sender: str
) -> None:
    # Adele has a mailbox, but the app's management scope only holds the notice mailbox.
    response = client.post(f"/users/{ADELE}/sendMail", json=_json_mail())
    error = assert_graph_error(response, 403, "ErrorAccessDenied")
    assert error["message"] == "Access is denied. Check credentials and try again."
    tenant.disallow_send_as(sender)
    assert_graph_error(
        client.post(f"/users/{NOTIFY}/sendMail", json=_json_mail()), 403, "ErrorAccessDenied"
    )
    assert len(emu.outbox) == 0


def test_a_tenant_wide_mail_send_grant_opens_every_mailbox(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    """What RBAC for Applications is there to avoid: the Entra grant alone sends as anyone."""
    assert not tenant.may_send_as(ADELE_ID)
    tenant.app_roles.add("Mail.Send")
    assert tenant.may_send_as(ADELE_ID)
    assert client.post(f"/users/{ADELE}/sendMail", json=_json_mail()).status_code == 202
    assert [m.sender for m in emu.outbox] == ["adele.vance@contoso.example"]


def test_unknown_sender_is_an_invalid_user(client: httpx.Client, sender: str) -> None:
    response = client.post("/users/ghost@contoso.example/sendMail", json=_json_mail())
    error = assert_graph_error(response, 404, "ErrorInvalidUser")
    assert error["message"] == "The requested user 'ghost@contoso.example' is invalid."


@pytest.mark.parametrize("who", [DIEGO_ID, MEGAN_ID, ADELE_ID])
def test_user_without_a_mailbox_cannot_send(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client, who: str
) -> None:
    """Diego has no ``mail``, Megan is a guest, Adele's mailbox is switched off here."""
    tenant.allow_send_as(who)
    tenant.set_mailbox(ADELE_ID, False)
    assert not tenant.has_mailbox(who)
    response = client.post(f"/users/{who}/sendMail", json=_json_mail())
    assert_graph_error(response, 404, "MailboxNotEnabledForRESTAPI")
    assert len(emu.outbox) == 0


def test_mailbox_rule_follows_mail_and_overrides(tenant: Tenant) -> None:
    assert tenant.has_mailbox(ADELE_ID)
    tenant.set_mail(ADELE_ID, None)
    assert not tenant.has_mailbox(ADELE_ID)
    tenant.set_mailbox(ADELE_ID, True)
    assert tenant.has_mailbox(ADELE_ID)
    tenant.set_mailbox(MEGAN_ID, None)
    assert not tenant.has_mailbox(MEGAN_ID)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"message": {"subject": "no one", "body": {"content": "x"}}}, "ErrorInvalidRecipients"),
        (
            {"message": {"toRecipients": [{"emailAddress": {"name": "no address"}}]}},
            "ErrorInvalidRecipients",
        ),
        ({"subject": "bare message", "toRecipients": []}, "ErrorInvalidRequest"),
        ({"message": {"toRecipients": []}, "saveToSentItems": "maybe"}, "ErrorInvalidRequest"),
    ],
)
def test_malformed_json_messages_are_refused(
    emu: GraphEmulator, client: httpx.Client, sender: str, body: dict[str, Any], code: str
) -> None:
    assert_graph_error(client.post(f"/users/{NOTIFY}/sendMail", json=body), 400, code)
    assert len(emu.outbox) == 0


def test_send_mail_only_accepts_post(client: httpx.Client, sender: str) -> None:
    assert_graph_error(client.get(f"/users/{NOTIFY}/sendMail"), 405, "ErrorInvalidRequest")


@pytest.mark.parametrize(
    ("status", "code"), [(429, "TooManyRequests"), (503, "serviceNotAvailable")]
)
def test_faults_apply_to_send_mail(
    emu: GraphEmulator, client: httpx.Client, sender: str, status: int, code: str
) -> None:
    emu.faults.add(Fault(method="POST", path="/sendMail$", status=status, retry_after="2"))
    response = client.post(f"/users/{NOTIFY}/sendMail", json=_json_mail())
    assert_graph_error(response, status, code)
    assert response.headers["Retry-After"] == "2"
    assert len(emu.outbox) == 0
    assert client.post(f"/users/{NOTIFY}/sendMail", json=_json_mail()).status_code == 202
    assert len(emu.outbox) == 1


def test_send_mail_inside_a_batch(emu: GraphEmulator, client: httpx.Client, sender: str) -> None:
    mime = base64.b64encode(_mime(to="alex.wilber@contoso.example")).decode()
    requests = [
        {
            "id": "json",
            "method": "POST",
            "url": f"/users/{NOTIFY}/sendMail",
            "headers": {"Content-Type": "application/json"},
            "body": _json_mail(),
        },
        {  # non-JSON bodies travel base64-encoded inside a batch
            "id": "mime",
            "method": "POST",
            "url": f"/users/{NOTIFY}/sendMail",
            "headers": {"Content-Type": "text/plain"},
            "body": mime,
        },
        {
            "id": "denied",
            "method": "POST",
            "url": f"/users/{ADELE}/sendMail",
            "headers": {"Content-Type": "application/json"},
            "body": _json_mail(),
        },
    ]
    response = client.post("/$batch", json={"requests": requests})
    assert response.status_code == 200, response.text
    items = {item["id"]: item for item in response.json()["responses"]}
    assert items["json"]["status"] == 202 and "body" not in items["json"]
    assert items["mime"]["status"] == 202
    assert items["denied"]["status"] == 403
    assert items["denied"]["body"]["error"]["code"] == "ErrorAccessDenied"
    assert [m.form for m in emu.outbox] == ["json", "mime"]
    assert emu.outbox.messages()[1].to[0] == "alex.wilber@contoso.example"


def test_outbox_clear_and_link_helper(
    emu: GraphEmulator, client: httpx.Client, sender: str
) -> None:
    client.post(f"/users/{NOTIFY}/sendMail", json=_json_mail())
    assert len(emu.outbox) == 1
    emu.outbox.clear()
    assert emu.outbox.messages() == []
    assert extract_links("see https://a.example/x, and (https://b.example/y).") == [
        "https://a.example/x",
        "https://b.example/y",
    ]
    assert extract_links('<a href="https://a.example/?q=1&amp;r=2">go</a>', html_body=True) == [
        "https://a.example/?q=1&r=2"
    ]
