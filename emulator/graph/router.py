"""Routes a Graph call to the resource module that serves it, under the tenant lock, and
renders whatever :class:`~emulator._common.GraphError` a handler raised.

Only the first path segment and the object key are decided here (``users/{id}``,
``users('{upn}')``, ``groups``, ``roleManagement``, ``identityGovernance``, service principals
and applications), and which module serves a user's ``sendMail`` and ``manager``
(:mod:`.mail`); each resource module validates the rest of its own paths.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from .._common import GraphError
from ..tenant import Tenant
from . import apps, auth_methods, groups, mail, roles, users
from .call import (
    GRAPH_VERSIONS,
    GraphCall,
    GraphResult,
    allow,
    fail,
    render_error,
    segment_not_found,
)
from .odata import MAX_PAGE

_PAREN_KEY = re.compile(r"^(users|groups)\((.*)\)$", re.DOTALL)
_RAW_PAREN_KEY = re.compile(
    r"^(?:users|groups)(?:\(|%28)(.*?)(?:\)|%29)$", re.IGNORECASE | re.DOTALL
)


class GraphService:
    """The Graph surface (v1.0 and beta) over one tenant: what the resource handlers read as their
    :class:`~.call.Service`."""

    def __init__(self, tenant: Tenant, origin: str, max_page_size: int = MAX_PAGE) -> None:
        self.tenant = tenant
        self.origin = origin
        self.base_url = f"{origin}/v1.0"
        # Graph may serve fewer items than $top asks for; clients must follow nextLink anyway.
        self.max_page_size = max_page_size

    def handle(self, call: GraphCall) -> GraphResult:
        try:
            with self.tenant.lock:
                return self._route(call)
        except GraphError as exc:
            return render_error(call, exc)

    def _route(self, call: GraphCall) -> GraphResult:
        if call.version not in GRAPH_VERSIONS:
            fail(400, "BadRequest", "This emulator serves Graph v1.0 and beta.")
        decoded = [unquote(s) for s in call.segments]
        if not decoded:
            fail(400, "BadRequest", "Invalid request: no resource given.")
        head = decoded[0]
        paren = _PAREN_KEY.match(head)
        if paren is not None:
            collection = paren.group(1)
            key = _paren_key(paren.group(2))
            raw_match = _RAW_PAREN_KEY.match(call.segments[0])
            raw_key = _strip_quotes(raw_match.group(1)) if raw_match else key
            rest = decoded[1:]
        elif head in ("users", "groups"):
            collection = head
            if len(decoded) == 1:
                allow(call, "GET")
                if head == "groups":
                    return groups.list_groups(self, call)
                return users.list_users(self, call)
            key, raw_key, rest = decoded[1], call.segments[1], decoded[2:]
            if key.startswith("$"):
                fail(400, "Request_BadRequest", f"Invalid object identifier '{raw_key}'.")
        elif head.split("(")[0] in ("servicePrincipals", "applications"):
            return apps.route(self, call, head, decoded[1:])
        elif head == "roleManagement":
            return roles.role_management(self, call, decoded[1:])
        elif head == "identityGovernance":
            return roles.privileged_access(self, call, decoded[1:])
        elif head == "policies":
            return _policies(self, call, decoded[1:])
        else:
            segment_not_found(head)
        if collection == "groups":
            return groups.route(self, call, key, raw_key, rest)
        if mail.is_send_mail(rest):
            # Exchange resolves the sender itself and answers in its own words.
            return mail.send_mail(self, call, key)
        # The path and method are checked before the user is looked up, like Graph does.
        if len(rest) >= 2 and rest[0] == "authentication":
            handler = auth_methods.handler(self, call, raw_key, rest[1:])
        elif rest == ["manager"]:
            handler = mail.manager_handler(self, call)
        else:
            handler = users.handler(self, call, rest)
        return handler(users.find_user(self, key, raw_key))


def _policies(svc: GraphService, call: GraphCall, rest: list[str]) -> GraphResult:
    """Only the Temporary Access Pass configuration of the authentication methods policy."""
    if [r.lower() for r in rest] != [
        "authenticationmethodspolicy",
        "authenticationmethodconfigurations",
        "temporaryaccesspass",
    ]:
        segment_not_found("/".join(rest) or "policies")
    allow(call, "GET")
    return GraphResult(200, svc.tenant.tap_policy.to_json())


def _paren_key(inner: str) -> str:
    if len(inner) >= 2 and inner.startswith("'") and inner.endswith("'"):
        return inner[1:-1].replace("''", "'")
    return inner


def _strip_quotes(raw: str) -> str:
    for quote_form in ("'", "%27"):
        if raw.lower().startswith(quote_form) and raw.lower().endswith(quote_form):
            return raw[len(quote_form) : len(raw) - len(quote_form)]
    return raw
