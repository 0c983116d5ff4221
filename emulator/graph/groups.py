"""``/groups``: the collection (``$filter``, ``$expand=owners``), one group, its owners,
its direct and transitive members with type casts, and removing a member by ``$ref``.

Membership is how a protected role reaches a user indirectly, and ``$ref`` removal is the
only group write the app makes, so both follow Graph's paths and refusals exactly.
"""

from __future__ import annotations

import re
from typing import Any

from ..model import GROUP_PROPERTIES, USER_PROPERTIES, Group, User
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

MAX_EXPANDED = 20
_EMPTY_CAST_TYPES = frozenset({"device", "servicePrincipal", "orgContact", "application"})


def list_groups(svc: Service, call: GraphCall) -> GraphResult:
    groups = list(svc.tenant._groups.values())
    raw_filter = query(call, "filter")
    if raw_filter:
        for prop, value in parse_filter(raw_filter):
            name = prop.lower()
            if name == "isassignabletorole" and isinstance(value, bool):
                groups = [g for g in groups if g.role_assignable is value]
                continue
            if name not in ("id", "displayname") or not isinstance(value, str):
                fail(
                    400,
                    "Request_UnsupportedQuery",
                    f"Unsupported or invalid query filter clause specified for property "
                    f"'{prop}' of resource 'Group'.",
                )
            attr = "id" if name == "id" else "display_name"
            groups = [g for g in groups if str(getattr(g, attr)).lower() == value.lower()]
    names = select(call)
    names = canonical(names, GROUP_PROPERTIES, "group") if names else None
    expand_owners = _expand_owners(call)
    items = []
    for group in groups:
        full = group.to_json()
        item = {k: full[k] for k in names} | {"id": group.id} if names else full
        if expand_owners:
            # Graph expands at most 20 related objects; the rest needs /owners itself.
            owners = [svc.tenant._users[o] for o in group.owners[:MAX_EXPANDED]]
            item["owners"] = [object_json(o, ["id"]) for o in owners]
        items.append(item)
    return page(svc, call, items, f"{svc.base_url}/$metadata#groups")


def _expand_owners(call: GraphCall) -> bool:
    expand = (query(call, "expand") or "").strip()
    if not expand:
        return False
    if re.fullmatch(r"owners(\(\$select=id\))?", expand, re.IGNORECASE) is None:
        fail(400, "BadRequest", f"Parsing OData Select and Expand failed: '{expand}'.")
    return True


def _find_group(svc: Service, key: str, raw_key: str) -> Group:
    group = svc.tenant._groups.get(key.lower())
    if group is None:
        object_not_found(raw_key)
    return group


def route(svc: Service, call: GraphCall, key: str, raw_key: str, rest: list[str]) -> GraphResult:
    match rest:
        case []:
            allow(call, "GET")
            group = _find_group(svc, key, raw_key)
            context = f"{svc.base_url}/$metadata#groups/$entity"
            return GraphResult(200, {"@odata.context": context, **group.to_json()})
        case [("members" | "transitiveMembers") as relation]:
            allow(call, "GET")
            return _list_members(svc, call, _find_group(svc, key, raw_key), relation, None)
        case ["owners"]:
            allow(call, "GET")
            group = _find_group(svc, key, raw_key)
            names = select(call)
            owners = [object_json(svc.tenant._users[o], names) for o in group.owners]
            return page(svc, call, owners, f"{svc.base_url}/$metadata#directoryObjects")
        case [("members" | "transitiveMembers") as relation, second] if cast_name(second):
            cast = cast_name(second)
            if cast not in ("user", "group") and cast not in _EMPTY_CAST_TYPES:
                segment_not_found(second)
            allow(call, "GET")
            return _list_members(svc, call, _find_group(svc, key, raw_key), relation, cast)
        case ["members", member_id, "$ref"]:
            allow(call, "DELETE")
            group = _find_group(svc, key, raw_key)
            if member_id.lower() not in group.members:
                raw_member = call.segments[-2]
                object_not_found(raw_member)
            group.members.remove(member_id.lower())
            return GraphResult(204)
        case ["members", member_id]:
            group = _find_group(svc, key, raw_key)
            if call.method == "DELETE":
                # Without /$ref Graph deletes the member object itself; the emulator never
                # does, it answers as a directory that denies the (dangerous) request.
                fail(
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                )
            allow(call, "GET")
            if member_id.lower() not in group.members:
                object_not_found(call.segments[-1])
            member = _directory_object(svc, member_id.lower())
            return GraphResult(200, object_json(member, select(call)))
        case _:
            known = {"members", "transitiveMembers", "owners", "$ref"}
            segment_not_found(next((s for s in rest if s not in known), rest[-1]))


def _directory_object(svc: Service, object_id: str) -> User | Group:
    if object_id in svc.tenant._users:
        return svc.tenant._users[object_id]
    return svc.tenant._groups[object_id]


def _list_members(
    svc: Service, call: GraphCall, group: Group, relation: str, cast: str | None
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
            nested = svc.tenant._groups.get(current)
            if nested is not None:
                frontier.extend(nested.members)
    objects = [_directory_object(svc, i) for i in ids]
    if cast == "user":
        objects = [o for o in objects if isinstance(o, User)]
    elif cast == "group":
        objects = [o for o in objects if isinstance(o, Group)]
    elif cast is not None:
        objects = []
    names = select(call)
    if names and cast == "user":
        canonical(names, USER_PROPERTIES, "user")
    elif names and cast == "group":
        canonical(names, GROUP_PROPERTIES, "group")
    items: list[dict[str, Any]] = [object_json(o, names) for o in objects]
    entity_set = {"user": "users", "group": "groups"}.get(cast or "", "directoryObjects")
    return page(svc, call, items, f"{svc.base_url}/$metadata#{entity_set}")
