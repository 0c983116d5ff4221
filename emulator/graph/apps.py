"""``/servicePrincipals`` and ``/applications``: a service principal by id or by appId (with
its ``appRoles``), its owners and the app role assignments granted for it
(``appRoleAssignedTo``), and an application's owners by id or by appId.

Graph addresses both by ``(appId='...')`` as well as by object id; an application that is not
registered in this tenant (a multi-tenant app from elsewhere) is a 404, as in Graph.
"""

from __future__ import annotations

import re
from typing import Any

from ..model import Application, ServicePrincipal
from .call import GraphCall, GraphResult, Service, allow, object_not_found, segment_not_found
from .odata import page, select

_APP_ID_KEY = re.compile(r"^\(appId='(?P<app_id>[^']*)'\)$", re.IGNORECASE)
_SP_PROPERTIES = ("id", "appId", "displayName", "servicePrincipalType", "appRoles")


def route(svc: Service, call: GraphCall, head: str, rest: list[str]) -> GraphResult:
    """``head`` is ``servicePrincipals`` or ``applications``, with any ``(appId='...')`` key;
    ``rest`` the segments after it (the object id first, unless the key was an appId)."""
    collection, _, key = head.partition("(")
    if key:
        match = _APP_ID_KEY.match(f"({key}")
        if match is None:
            segment_not_found(head)
        by, value, tail = "appId", match["app_id"].lower(), rest
    elif rest:
        by, value, tail = "id", rest[0].lower(), rest[1:]
    else:
        segment_not_found(head)
    apps = svc.tenant.apps
    if collection == "servicePrincipals":
        sp = next(
            (s for s in apps.service_principals.values() if getattr(s, _attr(by)) == value), None
        )
        if sp is None:
            object_not_found(value)
        return _service_principal(svc, call, sp, tail)
    if collection != "applications":
        segment_not_found(collection)
    app = next((a for a in apps.applications.values() if getattr(a, _attr(by)) == value), None)
    if app is None:
        object_not_found(value)
    return _application(svc, call, app, tail)


def _attr(by: str) -> str:
    return "app_id" if by == "appId" else "id"


def _service_principal(
    svc: Service, call: GraphCall, sp: ServicePrincipal, tail: list[str]
) -> GraphResult:
    allow(call, "GET")
    match tail:
        case []:
            names = select(call) or list(_SP_PROPERTIES)
            full = sp.to_json()
            body = {k: full[k] for k in _SP_PROPERTIES if k.lower() in {n.lower() for n in names}}
            context = f"{svc.base_url}/$metadata#servicePrincipals/$entity"
            return GraphResult(200, {"@odata.context": context, **body, "id": sp.id})
        case ["owners"]:
            return _owners(svc, call, sp.owners)
        case ["appRoleAssignedTo"]:
            items = [a.to_json() for a in svc.tenant.apps.assignments if a.resource_id == sp.id]
            context = f"{svc.base_url}/$metadata#servicePrincipals('{sp.id}')/appRoleAssignedTo"
            return page(svc, call, items, context)
        case _:
            segment_not_found(tail[0])


def _application(svc: Service, call: GraphCall, app: Application, tail: list[str]) -> GraphResult:
    allow(call, "GET")
    match tail:
        case []:
            context = f"{svc.base_url}/$metadata#applications/$entity"
            return GraphResult(200, {"@odata.context": context, **app.to_json()})
        case ["owners"]:
            return _owners(svc, call, app.owners)
        case _:
            segment_not_found(tail[0])


def _owners(svc: Service, call: GraphCall, owner_ids: list[str]) -> GraphResult:
    items: list[dict[str, Any]] = []
    for owner in owner_ids:
        user = svc.tenant._users[owner]
        full = {"@odata.type": "#microsoft.graph.user", **user.to_json()}
        names = select(call)
        items.append({k: v for k, v in full.items() if names is None or k in {"id", *names}})
        items[-1]["@odata.type"] = "#microsoft.graph.user"
    return page(svc, call, items, f"{svc.base_url}/$metadata#directoryObjects")
