"""``POST /users/{id | userPrincipalName}/sendMail`` and ``GET /users/{id | upn}/manager``: the
two Graph calls that tell a user, and the people around them, that their MFA is being reset.

sendMail (Microsoft Graph v1.0 "user: sendMail", api-reference/v1.0/api/user-sendmail.md):

* ``Content-Type: application/json``: ``{"message": {...}, "saveToSentItems": ...}``;
  ``Content-Type: text/plain``: the base64 of a MIME message. Success is ``202 Accepted``
  with an empty body, and the message goes to the tenant's outbox
  (:class:`~emulator.outbox.Outbox`).
* MIME that is not base64: ``400 ErrorMimeContentInvalidBase64String`` "Invalid base64 string
  for MIME content." (documented on the same page).
* A message without a recipient: ``400 ErrorInvalidRecipients`` (Exchange's answer as clients
  report it; the page does not list it).
* A sender Graph cannot resolve: ``404 ErrorInvalidUser`` "The requested user '{key}' is
  invalid." A directory user without an Exchange Online mailbox (no licence, a guest):
  ``404 MailboxNotEnabledForRESTAPI`` "The mailbox is either inactive, soft-deleted, or is
  hosted on-premise." Neither is in the API reference; both are Exchange's answers as
  recorded in microsoftgraph/microsoft-graph-docs-contrib issue 405 and client issue trackers.
* A mailbox outside the app's Exchange RBAC for Applications scope: ``403 ErrorAccessDenied``
  "Access is denied. Check credentials and try again.", the Exchange denial Graph returns
  when an app may not act on a mailbox (e.g. microsoftgraph/msgraph-sdk-php issue 1204).
  Microsoft does not document the body of an RBAC-for-Applications denial; the legacy
  Application Access Policies answered "Access to OData is disabled." with the same code.

  The permission is modelled as Exchange RBAC for Applications decides it: the mailbox must
  be in the scope (:meth:`~emulator.tenant_users.UserDirectory.allow_send_as`); no Entra
  ``Mail.Send`` grant is needed, and one (``"Mail.Send"`` in ``tenant.app_roles``) opens every
  mailbox ("Role Based Access Control for Applications in Exchange Online", Microsoft Learn).
  The order of the checks (sender, mailbox, scope, then the body) is the emulator's choice.

manager (Microsoft Graph v1.0 "List manager", api-reference/v1.0/api/user-list-manager.md):
``200`` with the manager as a directoryObject (``@odata.type`` ``#microsoft.graph.user``,
``$select`` honoured), ``404 Request_ResourceNotFound`` "Resource 'manager' does not exist or
one of its queried reference-property objects are not present." when none is set. The
documentation disagrees with itself on application permissions: older versions of the page
list application ``User.Read.All``, the current generated table says "Not supported", and
app-only calls work in practice. The emulator serves app-only callers and requires
``User.Read.All`` (or a broader user or directory read permission) in ``tenant.app_roles``,
answering ``403 Authorization_RequestDenied`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from .._common import GraphError
from ..model import User
from ..outbox import MimeError, SentMessage, decode_mime, from_json, from_mime
from .call import GraphCall, GraphResult, Service, allow, fail
from .odata import object_json, select

SEND_MAIL = ("sendmail", "microsoft.graph.sendmail")
MANAGER_READ_ROLES = frozenset(
    {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)


def is_send_mail(rest: list[str]) -> bool:
    return len(rest) == 1 and rest[0].lower() in SEND_MAIL


def send_mail(svc: Service, call: GraphCall, key: str) -> GraphResult:
    """The sendMail action; ``key`` is the sender as the path named it (id or UPN)."""
    allow(call, "POST", code="ErrorInvalidRequest")
    tenant = svc.tenant
    sender = tenant._find_user(key)
    if sender is None:
        fail(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
    if not sender.has_mailbox:
        fail(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    if not tenant.may_send_as(sender.id):
        fail(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    address = sender.mail or sender.user_principal_name
    content_type = call.headers.get("content-type", "").lower()
    if content_type.startswith("text/plain"):
        message = _mime_message(call, sender, address)
    else:
        message = _json_message(call, sender, address)
    if not message.recipients:
        fail(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient is required, but none were found.",
        )
    tenant.outbox.add(message)
    return GraphResult(202)


def _mime_message(call: GraphCall, sender: User, address: str) -> SentMessage:
    raw = call.raw_body or (call.body.encode() if isinstance(call.body, str) else b"")
    try:
        parsed = decode_mime(raw)
    except MimeError:
        fail(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
    return from_mime(parsed, sender=address, sender_id=sender.id)


def _json_message(call: GraphCall, sender: User, address: str) -> SentMessage:
    body = call.body
    if call.body_invalid or body is None:
        _invalid("Empty Payload. JSON content expected." if body is None else _UNREADABLE)
    # Action parameters are matched without regard to case: the documentation writes
    # "message" and "saveToSentItems", msgraph-sdk-python sends "Message" and "SaveToSentItems".
    params = {str(k).lower(): v for k, v in body.items()} if isinstance(body, dict) else {}
    message = params.get("message")
    if not isinstance(message, dict):
        # The documented form wraps the message; a bare message object is a client bug.
        _invalid("The 'message' parameter of the sendMail action is required.")
    save = _save_to_sent_items(params.get("savetosentitems", True))
    try:
        return from_json(message, sender=address, sender_id=sender.id, save_to_sent_items=save)
    except ValueError as exc:
        fail(400, "ErrorInvalidRecipients", f"At least one recipient isn't valid. {exc}")


_UNREADABLE = "Unable to read JSON request payload. Please ensure Content-Type header is set."


def _invalid(message: str) -> NoReturn:
    raise GraphError(400, "ErrorInvalidRequest", message)


def _save_to_sent_items(value: Any) -> bool:
    """A Boolean; the documented example sends the string ``"false"``, which Graph accepts;
    ``null`` is the default (true)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    _invalid(f"Invalid value '{value}' for parameter 'saveToSentItems'.")


def manager_handler(svc: Service, call: GraphCall) -> Callable[[User], GraphResult]:
    """``GET /users/{key}/manager``; the method is checked before the user is looked up."""
    allow(call, "GET")
    return lambda user: _manager(svc, call, user)


def _manager(svc: Service, call: GraphCall, user: User) -> GraphResult:
    tenant = svc.tenant
    if not MANAGER_READ_ROLES & tenant.app_roles:
        fail(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    manager = tenant._users.get(user.manager_id) if user.manager_id else None
    if manager is None:
        fail(
            404,
            "Request_ResourceNotFound",
            "Resource 'manager' does not exist or one of its queried reference-property "
            "objects are not present.",
        )
    context = f"{svc.base_url}/$metadata#directoryObjects/$entity"
    return GraphResult(200, {"@odata.context": context, **object_json(manager, select(call))})
