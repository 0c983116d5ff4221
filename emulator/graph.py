"""Microsoft Graph v1.0 semantics on top of :class:`~emulator.tenant.Tenant`.

This module knows nothing about sockets: it turns a parsed :class:`GraphCall` into a
:class:`GraphResult`, so ordinary requests and the requests inside a ``$batch`` go
through exactly the same code.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import parse_qsl, quote, unquote

from ._common import (
    PHONE_METHOD_IDS,
    GraphError,
    iso,
    parse_iso,
    utcnow,
)
from .tenant import (
    COLLECTION_KINDS,
    PHONE_TYPES,
    USER_DEFAULT_PROPERTIES,
    USER_PROPERTIES,
    DirectoryRole,
    EligibleRole,
    Group,
    Method,
    RoleAssignment,
    Tenant,
    User,
    new_tap_value,
    password_method_json,
)

PHONE_NUMBER_RE = re.compile(r"^\+\d{1,3} \d{1,14}(x\d{1,10})?$")
MAX_BATCH = 20
DEFAULT_PAGE = 100
MAX_PAGE = 999
MAX_EXPANDED = 20

_PAREN_KEY = re.compile(r"^(users|groups)\((.*)\)$", re.DOTALL)
_RAW_PAREN_KEY = re.compile(
    r"^(?:users|groups)(?:\(|%28)(.*?)(?:\)|%29)$", re.IGNORECASE | re.DOTALL
)
_FILTER_CLAUSE = re.compile(
    r"\s*(?P<prop>[A-Za-z]+)\s+eq\s+(?P<value>'(?:[^']|'')*'|true|false)\s*", re.IGNORECASE
)
_QUERY_SAFE = "$,'()@:"
_REVOKE = ("revokeSignInSessions", "microsoft.graph.revokeSignInSessions")
_EMPTY_CAST_TYPES = frozenset({"device", "servicePrincipal", "orgContact", "application"})
_GROUP_SELECTABLE = (
    "id",
    "displayName",
    "description",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "visibility",
    "createdDateTime",
)

_FAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad request."),
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("Request_ResourceNotFound", "Resource not found."),
    409: ("Conflict", "Conflict."),
    429: ("TooManyRequests", "Please retry again later."),
    500: ("generalException", "General exception while processing."),
    502: ("badGateway", "Bad gateway."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
    504: ("gatewayTimeout", "The gateway did not receive a timely response."),
}


@dataclass
class GraphCall:
    """One Graph request after transport parsing; ``segments`` are still percent-encoded
    because Graph echoes keys in error messages exactly as they arrived."""

    method: str
    segments: list[str]
    path: str
    raw_target: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    body_invalid: bool
    request_id: str
    client_request_id: str


@dataclass
class GraphResult:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def make_call(
    method: str,
    target: str,
    *,
    headers: dict[str, str],
    body: Any,
    body_invalid: bool,
    request_id: str,
    client_request_id: str,
    version_prefix: bool,
) -> GraphCall:
    """Parse a request target. With ``version_prefix`` the first segment is ``v1.0`` and is
    dropped; empty segments vanish, which tolerates the SDK's ``/v1.0//users`` slip."""
    raw_path, _, raw_query = target.partition("?")
    segments = [s for s in raw_path.split("/") if s]
    if version_prefix:
        segments = segments[1:]
        path = unquote(raw_path)
    else:
        path = "/v1.0" + unquote(raw_path if raw_path.startswith("/") else "/" + raw_path)
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    return GraphCall(
        method=method.upper(),
        segments=segments,
        path=path,
        raw_target=target,
        query=query,
        headers=headers,
        body=body,
        body_invalid=body_invalid,
        request_id=request_id,
        client_request_id=client_request_id,
    )


def error_body(
    code: str,
    message: str,
    *,
    request_id: str,
    client_request_id: str,
    inner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    inner_error: dict[str, Any] = {
        "date": utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    inner_error.update(inner or {})
    return {"error": {"code": code, "message": message, "innerError": inner_error}}


def fault_error(status: int, retry_after: str | None) -> GraphError:
    """The error a scripted fault answers with, shaped like Graph's own for that status."""
    code, message = _FAULT_ERRORS.get(status, ("UnknownError", f"HTTP {status}."))
    inner: dict[str, Any] = {}
    if status == 429:
        inner = {"code": "429", "status": "429", "message": "Please retry after"}
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return GraphError(status, code, message, inner=inner, headers=headers)


def _fail(status: int, code: str, message: str) -> NoReturn:
    raise GraphError(status, code, message)


def _am_fail(status: int, code: str, message: str) -> NoReturn:
    """Authentication-methods service errors repeat the message inside innerError."""
    raise GraphError(status, code, message, inner={"message": message})


def _segment_not_found(segment: str) -> NoReturn:
    _fail(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def _not_allowed(call: GraphCall, code: str = "Request_BadRequest") -> NoReturn:
    raise GraphError(
        405, code, f"The requested resource does not support http method '{call.method}'."
    )


def _allow(call: GraphCall, *methods: str, code: str = "Request_BadRequest") -> None:
    if call.method not in methods:
        _not_allowed(call, code)


def _user_not_found(raw_key: str) -> NoReturn:
    _fail(
        404,
        "Request_ResourceNotFound",
        f"Resource '{raw_key}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def _cast_name(segment: str) -> str | None:
    for prefix in ("microsoft.graph.", "graph."):
        if segment.startswith(prefix):
            return segment[len(prefix) :]
    return None


def _query(call: GraphCall, name: str) -> str | None:
    """OData system query options, with or without the ``$`` (Graph v1.0 accepts both)."""
    if f"${name}" in call.query:
        return call.query[f"${name}"]
    return call.query.get(name)


def _select(call: GraphCall) -> list[str] | None:
    raw = _query(call, "select")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    return None if not names or "*" in names else names


def _canonical(names: list[str], known: tuple[str, ...], type_name: str) -> list[str]:
    lookup = {k.lower(): k for k in known}
    out: list[str] = []
    for name in names:
        canonical = lookup.get(name.lower())
        if canonical is None:
            _fail(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
        out.append(canonical)
    return out


def _parse_filter(text: str) -> list[tuple[str, str | bool]]:
    """Parse the only filter shape the emulator supports: ``a eq 'x' and b eq true``."""
    clauses: list[tuple[str, str | bool]] = []
    pos = 0
    while True:
        match = _FILTER_CLAUSE.match(text, pos)
        if match is None:
            _fail(400, "BadRequest", f"Invalid filter clause: '{text}'.")
        raw = match.group("value")
        value: str | bool
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            value = raw[1:-1].replace("''", "'")
        clauses.append((match.group("prop"), value))
        pos = match.end()
        if pos >= len(text):
            return clauses
        joiner = re.compile(r"and\s+", re.IGNORECASE).match(text, pos)
        if joiner is None:
            _fail(400, "BadRequest", f"Invalid filter clause: '{text}'.")
        pos = joiner.end()


def _encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"emu-offset:{offset}".encode()).decode().rstrip("=")


def _decode_skiptoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "emu-offset":
            raise ValueError(text)
        return max(0, int(number))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        _fail(400, "Request_BadRequest", "Invalid skip token.")


class GraphService:
    """Routes a call to its handler under the tenant lock and renders Graph errors."""

    def __init__(self, tenant: Tenant, origin: str, max_page_size: int = MAX_PAGE) -> None:
        self.tenant = tenant
        self.origin = origin
        self.base_url = f"{origin}/v1.0"
        # Graph may serve fewer items than $top asks for; clients must follow nextLink anyway.
        self.max_page_size = max_page_size

    # -- entry points ----------------------------------------------------------------------

    def handle(self, call: GraphCall) -> GraphResult:
        try:
            with self.tenant.lock:
                return self._route(call)
        except GraphError as exc:
            return self.render_error(call, exc)

    def render_error(self, call: GraphCall, exc: GraphError) -> GraphResult:
        body = error_body(
            exc.code,
            exc.message,
            request_id=call.request_id,
            client_request_id=call.client_request_id,
            inner=exc.inner,
        )
        return GraphResult(exc.status, body, dict(exc.headers))

    def run_batch(
        self,
        outer: GraphCall,
        execute: Callable[[GraphCall, str], GraphResult],
        new_request_id: Callable[[], str],
    ) -> GraphResult:
        """Execute a JSON batch in array order through ``execute`` (which applies faults
        and records each inner request). ``depends_on`` is ignored on purpose: Graph only
        knows ``dependsOn``, and a client that sends the snake_case form loses ordering."""
        try:
            items = self._validate_batch(outer)
        except GraphError as exc:
            return self.render_error(outer, exc)
        statuses: dict[str, int] = {}
        responses: list[dict[str, Any]] = []
        for item in items:
            item_id = str(item["id"])
            deps = [str(d).lower() for d in item.get("dependsOn") or []]
            headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
            crid = headers.get("client-request-id", outer.client_request_id)
            failed = [d for d in deps if not 200 <= statuses[d] < 300]
            inner = self._inner_call(item, headers, new_request_id(), crid)
            if failed:
                result = self.render_error(
                    inner if isinstance(inner, GraphCall) else outer,
                    GraphError(
                        424,
                        "FailedDependency",
                        f"Request '{item_id}' depends on request '{failed[0]}', which failed.",
                    ),
                )
            elif isinstance(inner, GraphError):
                result = self.render_error(outer, inner)
            else:
                result = execute(inner, item_id)
            statuses[item_id.lower()] = result.status
            entry: dict[str, Any] = {"id": item_id, "status": result.status}
            entry_headers = dict(result.headers)
            if result.body is not None:
                entry_headers["Content-Type"] = "application/json"
                entry["body"] = result.body
            entry["headers"] = entry_headers
            responses.append(entry)
        return GraphResult(200, {"responses": responses})

    def _validate_batch(self, outer: GraphCall) -> list[dict[str, Any]]:
        body = outer.body
        if outer.body_invalid or not isinstance(body, dict):
            _fail(400, "BadRequest", "Invalid batch payload format.")
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            _fail(400, "BadRequest", "Invalid batch payload format: 'requests' must be a list.")
        if len(items) > MAX_BATCH:
            _fail(
                400,
                "BadRequest",
                f"The number of requests in the batch ({len(items)}) exceeds the limit of "
                f"{MAX_BATCH}.",
            )
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, dict):
                _fail(400, "BadRequest", "Invalid batch payload format: each request is an object.")
            for name in ("id", "method", "url"):
                if not isinstance(item.get(name), str) or not item[name]:
                    _fail(400, "BadRequest", f"Batch request is missing the '{name}' property.")
            item_id = item["id"].lower()
            if item_id in seen:
                _fail(400, "BadRequest", f"Batch request ids must be unique: '{item['id']}'.")
            deps = item.get("dependsOn")
            valid_deps = deps is None or (
                isinstance(deps, list)
                and all(isinstance(d, str) and d.lower() in seen for d in deps)
            )
            if not valid_deps:
                _fail(400, "BadRequest", f"Invalid dependency for request Id {item['id']}.")
            if item.get("headers") is not None and not isinstance(item["headers"], dict):
                _fail(400, "BadRequest", f"Invalid headers for request Id {item['id']}.")
            seen.add(item_id)
        return items

    @staticmethod
    def _inner_call(
        item: dict[str, Any], headers: dict[str, str], request_id: str, crid: str
    ) -> GraphCall | GraphError:
        url = str(item["url"])
        has_body = "body" in item and item["body"] is not None
        if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE):
            return GraphError(400, "BadRequest", "Batch request URLs must be relative.")
        if has_body and "content-type" not in headers:
            return GraphError(
                400,
                "BadRequest",
                "A 'Content-Type' header is required when a batch request has a body.",
            )
        return make_call(
            str(item["method"]),
            url if url.startswith("/") else "/" + url,
            headers=headers,
            body=item.get("body"),
            body_invalid=False,
            request_id=request_id,
            client_request_id=crid,
            version_prefix=False,
        )

    # -- routing ---------------------------------------------------------------------------

    def _route(self, call: GraphCall) -> GraphResult:
        decoded = [unquote(s) for s in call.segments]
        if not decoded:
            _fail(400, "BadRequest", "Invalid request: no resource given.")
        head = decoded[0]
        paren = _PAREN_KEY.match(head)
        if paren is not None:
            collection = paren.group(1)
            key = self._paren_key(paren.group(2))
            raw_match = _RAW_PAREN_KEY.match(call.segments[0])
            raw_key = self._strip_quotes(raw_match.group(1)) if raw_match else key
            rest = decoded[1:]
        elif head in ("users", "groups"):
            collection = head
            if len(decoded) == 1:
                return self._collection(call, head)
            key, raw_key, rest = decoded[1], call.segments[1], decoded[2:]
            if key.startswith("$"):
                _fail(400, "Request_BadRequest", f"Invalid object identifier '{raw_key}'.")
        elif head == "roleManagement":
            return self._role_management(call, decoded[1:])
        elif head == "identityGovernance":
            return self._privileged_access(call, decoded[1:])
        else:
            _segment_not_found(head)
        if collection == "users":
            return self._user_route(call, key, raw_key, rest)
        return self._group_route(call, key, raw_key, rest)

    @staticmethod
    def _paren_key(inner: str) -> str:
        if len(inner) >= 2 and inner.startswith("'") and inner.endswith("'"):
            return inner[1:-1].replace("''", "'")
        return inner

    @staticmethod
    def _strip_quotes(raw: str) -> str:
        for quote_form in ("'", "%27"):
            if raw.lower().startswith(quote_form) and raw.lower().endswith(quote_form):
                return raw[len(quote_form) : len(raw) - len(quote_form)]
        return raw

    def _collection(self, call: GraphCall, head: str) -> GraphResult:
        _allow(call, "GET")
        if head == "groups":
            return self._list_groups(call)
        users = list(self.tenant._users.values())
        raw_filter = _query(call, "filter")
        if raw_filter:
            users = self._filter_users(users, _parse_filter(raw_filter))
        select = _select(call)
        names = _canonical(select, USER_PROPERTIES, "user") if select else None
        items = [self._user_json(u, names) for u in users]
        return self._page(call, items, f"{self.base_url}/$metadata#users")

    def _list_groups(self, call: GraphCall) -> GraphResult:
        groups = list(self.tenant._groups.values())
        raw_filter = _query(call, "filter")
        if raw_filter:
            for prop, value in _parse_filter(raw_filter):
                name = prop.lower()
                if name == "isassignabletorole" and isinstance(value, bool):
                    groups = [g for g in groups if g.role_assignable is value]
                    continue
                if name not in ("id", "displayname") or not isinstance(value, str):
                    _fail(
                        400,
                        "Request_UnsupportedQuery",
                        f"Unsupported or invalid query filter clause specified for property "
                        f"'{prop}' of resource 'Group'.",
                    )
                attr = "id" if name == "id" else "display_name"
                groups = [g for g in groups if str(getattr(g, attr)).lower() == value.lower()]
        select = _select(call)
        names = _canonical(select, _GROUP_SELECTABLE, "group") if select else None
        expand_owners = self._expand_owners(call)
        items = []
        for group in groups:
            full = group.to_json()
            item = {k: full[k] for k in names} | {"id": group.id} if names else full
            if expand_owners:
                # Graph expands at most 20 related objects; the rest needs /owners itself.
                owners = [self.tenant._users[o] for o in group.owners[:MAX_EXPANDED]]
                item["owners"] = [self._object_json(o, ["id"]) for o in owners]
            items.append(item)
        return self._page(call, items, f"{self.base_url}/$metadata#groups")

    @staticmethod
    def _expand_owners(call: GraphCall) -> bool:
        expand = (_query(call, "expand") or "").strip()
        if not expand:
            return False
        if re.fullmatch(r"owners(\(\$select=id\))?", expand, re.IGNORECASE) is None:
            _fail(400, "BadRequest", f"Parsing OData Select and Expand failed: '{expand}'.")
        return True

    @staticmethod
    def _filter_users(users: list[User], clauses: list[tuple[str, str | bool]]) -> list[User]:
        supported = {
            "id",
            "userPrincipalName",
            "mail",
            "userType",
            "displayName",
            "accountEnabled",
        }
        lookup = {s.lower(): s for s in supported}
        for prop, value in clauses:
            name = lookup.get(prop.lower())
            if name is None:
                _fail(
                    400,
                    "Request_UnsupportedQuery",
                    f"Unsupported or invalid query filter clause specified for property '{prop}' "
                    "of resource 'User'.",
                )
            kept: list[User] = []
            for user in users:
                actual = user.to_json().get(name)
                if isinstance(value, bool) or not isinstance(actual, str):
                    if actual == value:
                        kept.append(user)
                elif actual.lower() == value.lower():
                    kept.append(user)
            users = kept
        return users

    # -- users -----------------------------------------------------------------------------

    def _find_user(self, key: str, raw_key: str) -> User:
        user = self.tenant._find_user(key)
        if user is None:
            _user_not_found(raw_key)
        return user

    def _user_route(self, call: GraphCall, key: str, raw_key: str, rest: list[str]) -> GraphResult:
        handler = self._user_handler(call, raw_key, rest)
        return handler(self._find_user(key, raw_key))

    def _user_handler(
        self, call: GraphCall, raw_key: str, rest: list[str]
    ) -> Callable[[User], GraphResult]:
        """Validate path and method first, like Graph does, before the user is looked up."""
        am = "badRequest"
        match rest:
            case []:
                _allow(call, "GET")
                return lambda u: self._get_user(call, u)
            case ["authentication", "methods"]:
                _allow(call, "GET", code=am)
                return lambda u: self._list_methods(call, u, raw_key, None)
            case ["authentication", "methods", mid]:
                if call.method == "DELETE":
                    return lambda u: self._generic_delete(u, mid)
                _allow(call, "GET", code=am)
                return lambda u: self._get_method(call, u, raw_key, None, mid)
            case ["authentication", "passwordMethods"]:
                _allow(call, "GET", code=am)
                return lambda u: self._list_methods(call, u, raw_key, "passwordMethods")
            case ["authentication", "passwordMethods", mid]:
                _allow(call, "GET", code=am)
                return lambda u: self._get_method(call, u, raw_key, "passwordMethods", mid)
            case ["authentication", collection] if collection in COLLECTION_KINDS:
                if call.method == "POST" and collection == "phoneMethods":
                    return lambda u: self._create_phone(call, u, raw_key)
                if call.method == "POST" and collection == "temporaryAccessPassMethods":
                    return lambda u: self._create_tap(call, u, raw_key)
                _allow(call, "GET", code=am)
                return lambda u: self._list_methods(call, u, raw_key, collection)
            case ["authentication", collection, mid] if collection in COLLECTION_KINDS:
                if call.method == "DELETE":
                    return lambda u: self._delete_method(u, collection, mid)
                if call.method == "PATCH" and collection == "phoneMethods":
                    return lambda u: self._update_phone(call, u, mid)
                _allow(call, "GET", code=am)
                return lambda u: self._get_method(call, u, raw_key, collection, mid)
            case [action] if action in _REVOKE:
                _allow(call, "POST")
                return self._revoke
            case [("memberOf" | "transitiveMemberOf") as relation]:
                _allow(call, "GET")
                return lambda u: self._member_of(call, u, relation, None)
            case [("memberOf" | "transitiveMemberOf") as relation, cast_segment]:
                cast = _cast_name(cast_segment)
                if cast not in ("group", "directoryRole"):
                    _segment_not_found(cast_segment)
                _allow(call, "GET")
                return lambda u: self._member_of(call, u, relation, cast)
            case ["authentication", unknown, *_]:
                _segment_not_found(unknown)
            case _:
                known = {"authentication", "memberOf", "transitiveMemberOf", "methods"}
                _segment_not_found(next((s for s in rest if s not in known), rest[-1]))

    def _user_json(self, user: User, select: list[str] | None) -> dict[str, Any]:
        full = user.to_json()
        # Returned only on $select, like Graph; derived from the restricted units' members.
        full["isManagementRestricted"] = self.tenant.management_restricted(user.id)
        if select is None:
            return {name: full[name] for name in USER_DEFAULT_PROPERTIES}
        out: dict[str, Any] = {"id": user.id}
        out.update({name: full.get(name) for name in select})
        return out

    def _get_user(self, call: GraphCall, user: User) -> GraphResult:
        select = _select(call)
        if select is None:
            context = f"{self.base_url}/$metadata#users/$entity"
            return GraphResult(200, {"@odata.context": context, **self._user_json(user, None)})
        names = _canonical(select, USER_PROPERTIES, "user")
        context = f"{self.base_url}/$metadata#users({','.join(names)})/$entity"
        return GraphResult(200, {"@odata.context": context, **self._user_json(user, names)})

    # -- authentication methods ------------------------------------------------------------

    def _method_items(self, user: User, collection: str | None) -> list[dict[str, Any]]:
        now = utcnow()
        password = [password_method_json(user)]
        if collection == "passwordMethods":
            return password
        kind = COLLECTION_KINDS[collection].kind if collection else None
        methods = [m.to_json(now) for m in user.methods.values() if kind in (None, m.kind)]
        return password + methods if collection is None else methods

    def _methods_context(self, raw_key: str, collection: str | None) -> str:
        return (
            f"{self.base_url}/$metadata#users('{raw_key}')/authentication/{collection or 'methods'}"
        )

    def _list_methods(
        self, call: GraphCall, user: User, raw_key: str, collection: str | None
    ) -> GraphResult:
        items = self._method_items(user, collection)
        select = _select(call)
        if select:
            wanted = {n.lower() for n in select}
            items = [
                {k: v for k, v in item.items() if k in ("@odata.type", "id") or k.lower() in wanted}
                for item in items
            ]
        context = self._methods_context(raw_key, collection)
        return GraphResult(200, {"@odata.context": context, "value": items})

    def _get_method(
        self, call: GraphCall, user: User, raw_key: str, collection: str | None, mid: str
    ) -> GraphResult:
        for item in self._method_items(user, collection):
            if item["id"].lower() == mid.lower():
                context = self._methods_context(raw_key, collection) + "/$entity"
                return GraphResult(200, {"@odata.context": context, **item})
        self._method_not_found(mid)

    @staticmethod
    def _method_not_found(mid: str) -> NoReturn:
        _am_fail(404, "itemNotFound", f"The requested authentication method '{mid}' was not found.")

    def _generic_delete(self, user: User, mid: str) -> GraphResult:
        _am_fail(
            405,
            "badRequest",
            "No HTTP resource was found that matches the request URI "
            f"'{self.origin}/odata/users('{user.id}')/authentication/methods('{mid}')'.",
        )

    def _delete_method(self, user: User, collection: str, mid: str) -> GraphResult:
        kind = COLLECTION_KINDS[collection].kind
        method = user.methods.get(mid.lower())
        if method is None or method.kind != kind:
            self._method_not_found(mid)
        blocking = self.tenant.default_blocking_kinds
        others = [
            m
            for m in user.methods.values()
            if m.id != method.id and (blocking is None or m.kind in blocking)
        ]
        if user.default_method_id == method.id and others:
            _am_fail(
                400,
                "badRequest",
                "Cannot delete default method with other methods configured. Please change "
                "default method before deletion.",
            )
        if (
            kind == "phone"
            and method.props.get("phoneType") == "mobile"
            and PHONE_METHOD_IDS["alternateMobile"] in user.methods
        ):
            _am_fail(
                400,
                "badRequest",
                "A user can't have an alternateMobile number without a mobile number. Delete "
                "the alternateMobile number first.",
            )
        del user.methods[method.id]
        if user.default_method_id == method.id:
            user.default_method_id = None
        return GraphResult(204)

    @staticmethod
    def _json_object(call: GraphCall, *, optional: bool = False) -> dict[str, Any]:
        if call.body_invalid:
            _am_fail(400, "badRequest", "Unable to read JSON request payload.")
        if call.body is None and optional:
            return {}
        if not isinstance(call.body, dict):
            _am_fail(400, "badRequest", "The request body must be a JSON object.")
        return {k: v for k, v in call.body.items() if k != "@odata.type"}

    def _create_phone(self, call: GraphCall, user: User, raw_key: str) -> GraphResult:
        body = self._json_object(call)
        number, ptype = body.get("phoneNumber"), body.get("phoneType")
        if not isinstance(number, str) or not isinstance(ptype, str):
            _am_fail(400, "badRequest", "Both phoneNumber and phoneType are required.")
        if ptype not in PHONE_TYPES:
            _am_fail(400, "badRequest", f"Invalid value '{ptype}' for phoneType.")
        if not PHONE_NUMBER_RE.match(number):
            _am_fail(
                400,
                "badRequest",
                f"Invalid phone number '{number}'. Use the format '+{{country code}} "
                "{number}x{extension}'.",
            )
        mid = PHONE_METHOD_IDS[ptype]
        if mid in user.methods:
            _am_fail(400, "badRequest", f"The user already has a phone method of type {ptype}.")
        if ptype == "alternateMobile" and PHONE_METHOD_IDS["mobile"] not in user.methods:
            _am_fail(
                400,
                "badRequest",
                "A user can't have an alternateMobile number without a mobile number.",
            )
        props = {
            "phoneNumber": number,
            "phoneType": ptype,
            "smsSignInState": "ready" if ptype == "mobile" else "notSupported",
        }
        method = Method(mid, "phone", iso(utcnow()), props)
        user.methods[mid] = method
        context = self._methods_context(raw_key, "phoneMethods") + "/$entity"
        return GraphResult(201, {"@odata.context": context, **method.to_json()})

    def _update_phone(self, call: GraphCall, user: User, mid: str) -> GraphResult:
        method = user.methods.get(mid.lower())
        if method is None or method.kind != "phone":
            self._method_not_found(mid)
        body = self._json_object(call)
        number, ptype = body.get("phoneNumber"), body.get("phoneType")
        if ptype is not None and ptype != method.props["phoneType"]:
            _am_fail(400, "badRequest", "The phoneType of an existing phone method can't change.")
        if number is not None:
            if not isinstance(number, str) or not PHONE_NUMBER_RE.match(number):
                _am_fail(400, "badRequest", f"Invalid phone number '{number}'.")
            method.props["phoneNumber"] = number
        return GraphResult(204)

    def _create_tap(self, call: GraphCall, user: User, raw_key: str) -> GraphResult:
        body = self._json_object(call, optional=True)
        policy = self.tenant.tap_policy
        if user.user_type == "Guest":
            _am_fail(
                400, "badRequest", "Temporary Access Pass cannot be added to an external guest user"
            )
        if not policy.enabled:
            _am_fail(
                400,
                "badRequest",
                "Converged UserCredentialPolicy does not allow creating or updating this "
                "authentication method. AuthMethodType [TemporaryAccessPass].",
            )
        lifetime = body.get("lifetimeInMinutes", policy.default_lifetime)
        if lifetime is None:
            lifetime = policy.default_lifetime
        if isinstance(lifetime, bool) or not isinstance(lifetime, int):
            _am_fail(400, "badRequest", "lifetimeInMinutes must be an integer.")
        if not policy.min_lifetime <= lifetime <= policy.max_lifetime:
            _am_fail(
                400,
                "badRequest",
                f"lifetimeInMinutes must be between {policy.min_lifetime} and "
                f"{policy.max_lifetime} minutes.",
            )
        once = body.get("isUsableOnce", policy.usable_once_default)
        if once is None:
            once = policy.usable_once_default
        if not isinstance(once, bool):
            _am_fail(400, "badRequest", "isUsableOnce must be a boolean.")
        if policy.usable_once_default and not once:
            _am_fail(
                400,
                "badRequest",
                "The Temporary Access Pass policy only allows one-time use passes.",
            )
        start = self._tap_start(body.get("startDateTime"))
        self.tenant._drop_existing_tap(user)
        secret = new_tap_value(policy.length)
        props = {"startDateTime": iso(start), "lifetimeInMinutes": lifetime, "isUsableOnce": once}
        method = Method(str(uuid.uuid4()), "temporaryAccessPass", iso(utcnow()), props, secret)
        user.methods[method.id] = method
        user.last_tap = secret
        entity = method.to_json()
        entity["temporaryAccessPass"] = secret
        context = self._methods_context(raw_key, "temporaryAccessPassMethods") + "/$entity"
        return GraphResult(201, {"@odata.context": context, **entity})

    @staticmethod
    def _tap_start(value: Any) -> datetime:
        if value is None:
            return utcnow()
        if not isinstance(value, str):
            _am_fail(400, "badRequest", "startDateTime must be an ISO 8601 date and time.")
        try:
            return parse_iso(value)
        except ValueError:
            _am_fail(400, "badRequest", f"Invalid startDateTime '{value}'.")

    def _revoke(self, user: User) -> GraphResult:
        user.revocations += 1
        user.sign_in_sessions_valid_from = iso(utcnow())
        if self.tenant.revoke_returns_204:
            return GraphResult(204)
        context = f"{self.base_url}/$metadata#Edm.Boolean"
        return GraphResult(200, {"@odata.context": context, "value": True})

    # -- memberships, groups, roles --------------------------------------------------------

    def _member_of(
        self, call: GraphCall, user: User, relation: str, cast: str | None
    ) -> GraphResult:
        transitive = relation == "transitiveMemberOf"
        if transitive:
            groups = self.tenant.transitive_groups(user.id)
        else:
            groups = [g for g in self.tenant._groups.values() if user.id in g.members]
        roles = self.tenant.roles_of(user.id, transitive=transitive)
        objects: list[Group | DirectoryRole] = []
        if cast in (None, "group"):
            objects.extend(groups)
        if cast in (None, "directoryRole"):
            objects.extend(roles)
        entity_set = {
            None: "directoryObjects",
            "group": "groups",
            "directoryRole": "directoryRoles",
        }
        select = _select(call)
        items = [self._object_json(o, select) for o in objects]
        return self._page(call, items, f"{self.base_url}/$metadata#{entity_set[cast]}")

    def _object_json(
        self, obj: User | Group | DirectoryRole, select: list[str] | None
    ) -> dict[str, Any]:
        if isinstance(obj, User):
            full = {"@odata.type": "#microsoft.graph.user", **obj.to_json()}
            defaults: tuple[str, ...] = USER_DEFAULT_PROPERTIES
            known: tuple[str, ...] = USER_PROPERTIES
        elif isinstance(obj, Group):
            full = {"@odata.type": "#microsoft.graph.group", **obj.to_json()}
            defaults = known = _GROUP_SELECTABLE
        else:
            full = obj.to_json()
            defaults = known = tuple(k for k in full if not k.startswith("@"))
        if select is None:
            return {"@odata.type": full["@odata.type"], **{k: full[k] for k in defaults}}
        lookup = {k.lower(): k for k in known}
        out = {"@odata.type": full["@odata.type"], "id": full["id"]}
        for name in select:
            canonical = lookup.get(name.lower())
            if canonical is not None:
                out[canonical] = full.get(canonical)
        return out

    def _find_group(self, key: str, raw_key: str) -> Group:
        group = self.tenant._groups.get(key.lower())
        if group is None:
            _user_not_found(raw_key)
        return group

    def _group_route(self, call: GraphCall, key: str, raw_key: str, rest: list[str]) -> GraphResult:
        match rest:
            case []:
                _allow(call, "GET")
                group = self._find_group(key, raw_key)
                context = f"{self.base_url}/$metadata#groups/$entity"
                return GraphResult(200, {"@odata.context": context, **group.to_json()})
            case [("members" | "transitiveMembers") as relation]:
                _allow(call, "GET")
                return self._list_members(call, self._find_group(key, raw_key), relation, None)
            case ["owners"]:
                _allow(call, "GET")
                group = self._find_group(key, raw_key)
                select = _select(call)
                owners = [self._object_json(self.tenant._users[o], select) for o in group.owners]
                return self._page(call, owners, f"{self.base_url}/$metadata#directoryObjects")
            case [("members" | "transitiveMembers") as relation, second] if _cast_name(second):
                cast = _cast_name(second)
                if cast not in ("user", "group") and cast not in _EMPTY_CAST_TYPES:
                    _segment_not_found(second)
                _allow(call, "GET")
                return self._list_members(call, self._find_group(key, raw_key), relation, cast)
            case ["members", member_id, "$ref"]:
                _allow(call, "DELETE")
                group = self._find_group(key, raw_key)
                if member_id.lower() not in group.members:
                    raw_member = call.segments[-2]
                    _user_not_found(raw_member)
                group.members.remove(member_id.lower())
                return GraphResult(204)
            case ["members", member_id]:
                group = self._find_group(key, raw_key)
                if call.method == "DELETE":
                    # Without /$ref Graph deletes the member object itself; the emulator never
                    # does, it answers as a directory that denies the (dangerous) request.
                    _fail(
                        403,
                        "Authorization_RequestDenied",
                        "Insufficient privileges to complete the operation.",
                    )
                _allow(call, "GET")
                if member_id.lower() not in group.members:
                    _user_not_found(call.segments[-1])
                member = self._directory_object(member_id.lower())
                return GraphResult(200, self._object_json(member, _select(call)))
            case _:
                known = {"members", "transitiveMembers", "owners", "$ref"}
                _segment_not_found(next((s for s in rest if s not in known), rest[-1]))

    def _directory_object(self, object_id: str) -> User | Group:
        if object_id in self.tenant._users:
            return self.tenant._users[object_id]
        return self.tenant._groups[object_id]

    def _list_members(
        self, call: GraphCall, group: Group, relation: str, cast: str | None
    ) -> GraphResult:
        ids: list[str] = []
        if relation == "members":
            ids = list(group.members)
        else:
            frontier = list(group.members)
            while frontier:
                current = frontier.pop(0)
                if current in ids:
                    continue
                ids.append(current)
                nested = self.tenant._groups.get(current)
                if nested is not None:
                    frontier.extend(nested.members)
        objects = [self._directory_object(i) for i in ids]
        if cast == "user":
            objects = [o for o in objects if isinstance(o, User)]
        elif cast == "group":
            objects = [o for o in objects if isinstance(o, Group)]
        elif cast is not None:
            objects = []
        select = _select(call)
        if select and cast == "user":
            _canonical(select, USER_PROPERTIES, "user")
        elif select and cast == "group":
            _canonical(select, _GROUP_SELECTABLE, "group")
        items = [self._object_json(o, select) for o in objects]
        entity_set = {"user": "users", "group": "groups"}.get(cast or "", "directoryObjects")
        return self._page(call, items, f"{self.base_url}/$metadata#{entity_set}")

    def _page(self, call: GraphCall, items: list[dict[str, Any]], context: str) -> GraphResult:
        """Serve one page; the next link is absolute and carries every other query option,
        because clients are told to follow it verbatim rather than rebuild it."""
        raw_top = _query(call, "top")
        top = DEFAULT_PAGE
        if raw_top is not None:
            try:
                top = int(raw_top)
            except ValueError:
                top = -1
            if not 1 <= top <= MAX_PAGE:
                _fail(
                    400,
                    "Request_BadRequest",
                    f"Invalid page size specified: '{raw_top}'. Must be between 1 and "
                    f"{MAX_PAGE} inclusive.",
                )
        top = min(top, self.max_page_size)
        token = _query(call, "skiptoken")
        offset = _decode_skiptoken(token) if token else 0
        body: dict[str, Any] = {"@odata.context": context}
        if offset + top < len(items):
            params = {k: v for k, v in call.query.items() if k not in ("$skiptoken", "skiptoken")}
            params["$skiptoken"] = _encode_skiptoken(offset + top)
            query = "&".join(
                f"{quote(k, safe='$')}={quote(v, safe=_QUERY_SAFE)}" for k, v in params.items()
            )
            body["@odata.nextLink"] = f"{self.base_url}/{'/'.join(call.segments)}?{query}"
        body["value"] = items[offset : offset + top]
        return GraphResult(200, body)

    # -- role management -------------------------------------------------------------------

    def _role_management(self, call: GraphCall, rest: list[str]) -> GraphResult:
        match rest:
            case ["directory", "roleEligibilityScheduleInstances"]:
                _allow(call, "GET")
                clauses = self._required_filter(call)
                instances = [
                    self._eligibility_json(e, call)
                    for e in self.tenant._eligible
                    if self._matches(clauses, e.principal_id, e.role_definition_id)
                ]
                context = (
                    f"{self.base_url}/$metadata#roleManagement/directory/"
                    "roleEligibilityScheduleInstances"
                )
                return self._page(call, instances, context)
            case ["directory", "roleAssignments"]:
                _allow(call, "GET")
                clauses = self._required_filter(call)
                assignments = [
                    self._assignment_json(a, call)
                    for a in self.tenant._assignments
                    if self._matches(clauses, a.principal_id, a.role_definition_id)
                ]
                context = f"{self.base_url}/$metadata#roleManagement/directory/roleAssignments"
                return self._page(call, assignments, context)
            case _:
                known = {"directory"}
                _segment_not_found(next((s for s in rest if s not in known), "roleManagement"))

    def _privileged_access(self, call: GraphCall, rest: list[str]) -> GraphResult:
        """PIM for Groups eligibilities; Graph requires a filter on principalId or groupId."""
        if rest != ["privilegedAccess", "group", "eligibilityScheduleInstances"]:
            _segment_not_found(next((s for s in rest if s != "privilegedAccess"), "group"))
        _allow(call, "GET")
        raw = _query(call, "filter")
        clauses = _parse_filter(raw) if raw else []
        if (
            not clauses
            or any(
                p not in ("principalId", "groupId", "accessId") or not isinstance(v, str)
                for p, v in clauses
            )
            or not {p for p, _ in clauses} & {"principalId", "groupId"}
        ):
            _fail(
                400,
                "BadRequest",
                "The request requires a $filter on principalId or groupId.",
            )
        items = []
        for entry in self.tenant._group_eligible:
            actual = {
                "principalId": entry.principal_id,
                "groupId": entry.group_id,
                "accessId": entry.access_id,
            }
            if all(actual[p].lower() == str(v).lower() for p, v in clauses):
                items.append(
                    {
                        "id": entry.id,
                        "accessId": entry.access_id,
                        "groupId": entry.group_id,
                        "principalId": entry.principal_id,
                        "memberType": "direct",
                        "startDateTime": entry.start,
                        "endDateTime": None,
                        "eligibilityScheduleId": entry.id,
                    }
                )
        context = (
            f"{self.base_url}/$metadata#identityGovernance/privilegedAccess/group/"
            "eligibilityScheduleInstances"
        )
        return self._page(call, items, context)

    @staticmethod
    def _required_filter(call: GraphCall) -> list[tuple[str, str | bool]]:
        raw = _query(call, "filter")
        if not raw:
            _fail(
                400,
                "BadRequest",
                "The directory provider requires a $filter on principalId or roleDefinitionId.",
            )
        clauses = _parse_filter(raw)
        for prop, value in clauses:
            if prop not in ("principalId", "roleDefinitionId") or not isinstance(value, str):
                _fail(400, "BadRequest", f"Filtering on '{prop}' is not supported.")
        return clauses

    @staticmethod
    def _matches(clauses: list[tuple[str, str | bool]], principal: str, definition: str) -> bool:
        actual = {"principalId": principal, "roleDefinitionId": definition}
        return all(actual[p].lower() == str(v).lower() for p, v in clauses)

    @staticmethod
    def _role_definition(definition_id: str, display_name: str, built_in: bool) -> dict[str, Any]:
        return {
            "id": definition_id,
            "displayName": display_name,
            "templateId": definition_id,
            "isBuiltIn": built_in,
            "isEnabled": True,
        }

    def _expand_definition(self, call: GraphCall) -> bool:
        expand = _query(call, "expand") or ""
        return "roledefinition" in expand.lower()

    def _eligibility_json(self, entry: EligibleRole, call: GraphCall) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": entry.id,
            "principalId": entry.principal_id,
            "roleDefinitionId": entry.role_definition_id,
            "directoryScopeId": entry.directory_scope_id,
            "appScopeId": None,
            "startDateTime": entry.start,
            "endDateTime": None,
            "memberType": "Direct",
            "roleEligibilityScheduleId": entry.id,
        }
        if self._expand_definition(call):
            out["roleDefinition"] = self._role_definition(
                entry.role_definition_id, entry.display_name, entry.built_in
            )
        return out

    def _assignment_json(self, assignment: RoleAssignment, call: GraphCall) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": assignment.id,
            "principalId": assignment.principal_id,
            "roleDefinitionId": assignment.role_definition_id,
            "directoryScopeId": assignment.directory_scope_id,
            "appScopeId": None,
            "condition": None,
        }
        if self._expand_definition(call):
            out["roleDefinition"] = self._role_definition(
                assignment.role_definition_id, assignment.display_name, assignment.built_in
            )
        return out
