"""``/users``: the collection with ``$filter``, one user with ``$select``, the
``revokeSignInSessions`` action and the ``memberOf``/``transitiveMemberOf`` relations.

These are the reads the reset makes before it touches anything (who is the target, which
groups and roles reach them), so they follow Graph's defaults and refusals closely.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._common import iso, utcnow
from ..model import USER_DEFAULT_PROPERTIES, USER_PROPERTIES, DirectoryRole, Group, User
from .call import (
    GraphCall,
    GraphResult,
    Service,
    allow,
    cast_name,
    fail,
    object_not_found,
    segment_not_found,
)
from .odata import canonical, object_json, page, parse_filter, query, select

_REVOKE = ("revokeSignInSessions", "microsoft.graph.revokeSignInSessions")
_FILTERABLE = ("id", "userPrincipalName", "mail", "userType", "displayName", "accountEnabled")


def list_users(svc: Service, call: GraphCall) -> GraphResult:
    users = list(svc.tenant._users.values())
    raw_filter = query(call, "filter")
    if raw_filter:
        users = _filter_users(users, parse_filter(raw_filter))
    names = select(call)
    names = canonical(names, USER_PROPERTIES, "user") if names else None
    items = [user_json(svc, u, names) for u in users]
    return page(svc, call, items, f"{svc.base_url}/$metadata#users")


def _filter_users(users: list[User], clauses: list[tuple[str, str | bool]]) -> list[User]:
    lookup = {s.lower(): s for s in _FILTERABLE}
    for prop, value in clauses:
        name = lookup.get(prop.lower())
        if name is None:
            fail(
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


def find_user(svc: Service, key: str, raw_key: str) -> User:
    """The user a path names by object id or userPrincipalName, or Graph's 404."""
    user = svc.tenant._find_user(key)
    if user is None:
        object_not_found(raw_key)
    return user


def handler(svc: Service, call: GraphCall, rest: list[str]) -> Callable[[User], GraphResult]:
    """Validate path and method first, like Graph does, before the user is looked up.
    ``/authentication/...`` is routed to the authentication methods module instead."""
    match rest:
        case []:
            allow(call, "GET")
            return lambda u: _get_user(svc, call, u)
        case [action] if action in _REVOKE:
            allow(call, "POST")
            return lambda u: _revoke(svc, u)
        case [("memberOf" | "transitiveMemberOf") as relation]:
            allow(call, "GET")
            return lambda u: _member_of(svc, call, u, relation, None)
        case [("memberOf" | "transitiveMemberOf") as relation, cast_segment]:
            cast = cast_name(cast_segment)
            if cast not in ("group", "directoryRole"):
                segment_not_found(cast_segment)
            allow(call, "GET")
            return lambda u: _member_of(svc, call, u, relation, cast)
        case _:
            known = {"authentication", "memberOf", "transitiveMemberOf", "methods"}
            segment_not_found(next((s for s in rest if s not in known), rest[-1]))


def user_json(svc: Service, user: User, names: list[str] | None) -> dict[str, Any]:
    full = user.to_json()
    # Returned only on $select, like Graph; derived from the restricted units' members.
    full["isManagementRestricted"] = svc.tenant.management_restricted(user.id)
    if names is None:
        return {name: full[name] for name in USER_DEFAULT_PROPERTIES}
    out: dict[str, Any] = {"id": user.id}
    out.update({name: full.get(name) for name in names})
    return out


def _get_user(svc: Service, call: GraphCall, user: User) -> GraphResult:
    names = select(call)
    if names is None:
        context = f"{svc.base_url}/$metadata#users/$entity"
        return GraphResult(200, {"@odata.context": context, **user_json(svc, user, None)})
    names = canonical(names, USER_PROPERTIES, "user")
    context = f"{svc.base_url}/$metadata#users({','.join(names)})/$entity"
    return GraphResult(200, {"@odata.context": context, **user_json(svc, user, names)})


def _revoke(svc: Service, user: User) -> GraphResult:
    user.revocations += 1
    user.sign_in_sessions_valid_from = iso(utcnow())
    if svc.tenant.revoke_returns_204:
        return GraphResult(204)
    context = f"{svc.base_url}/$metadata#Edm.Boolean"
    return GraphResult(200, {"@odata.context": context, "value": True})


def _member_of(
    svc: Service, call: GraphCall, user: User, relation: str, cast: str | None
) -> GraphResult:
    tenant = svc.tenant
    transitive = relation == "transitiveMemberOf"
    if transitive:
        groups = tenant.transitive_groups(user.id)
    else:
        groups = [g for g in tenant._groups.values() if user.id in g.members]
    roles = tenant.roles_of(user.id, transitive=transitive)
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
    names = select(call)
    items = [object_json(o, names) for o in objects]
    return page(svc, call, items, f"{svc.base_url}/$metadata#{entity_set[cast]}")
