"""Role management reads: ``roleManagement/directory/roleAssignments`` and
``roleEligibilityScheduleInstances`` (active and PIM-eligible directory roles), and PIM for
Groups ``identityGovernance/privilegedAccess/group/eligibilityScheduleInstances``.

The app's protected-target guard asks these before any write; like Graph, the eligibility
reads refuse a request without the filter they require; role assignments list the tenant's.
"""

from __future__ import annotations

from typing import Any

from ..model import EligibleRole, RoleAssignment
from .call import GraphCall, GraphResult, Service, allow, fail, segment_not_found
from .odata import page, parse_filter, query


def role_management(svc: Service, call: GraphCall, rest: list[str]) -> GraphResult:
    tenant = svc.tenant
    match rest:
        case ["directory", "roleEligibilityScheduleInstances"]:
            allow(call, "GET")
            clauses = _required_filter(call)
            instances = [
                _eligibility_json(e, call)
                for e in tenant._eligible
                if _matches(clauses, e.principal_id, e.role_definition_id)
            ]
            context = (
                f"{svc.base_url}/$metadata#roleManagement/directory/"
                "roleEligibilityScheduleInstances"
            )
            return page(svc, call, instances, context)
        case ["directory", "roleAssignments"]:
            allow(call, "GET")
            # Graph lists every assignment of the tenant without a filter (its current page
            # requires none); the eligibilities above still need one.
            clauses = _required_filter(call) if query(call, "filter") else []
            assignments = [
                _assignment_json(a, call, svc)
                for a in tenant._assignments
                if _matches(clauses, a.principal_id, a.role_definition_id)
            ]
            context = f"{svc.base_url}/$metadata#roleManagement/directory/roleAssignments"
            return page(svc, call, assignments, context)
        case _:
            known = {"directory"}
            segment_not_found(next((s for s in rest if s not in known), "roleManagement"))


def privileged_access(svc: Service, call: GraphCall, rest: list[str]) -> GraphResult:
    """PIM for Groups eligibilities; Graph requires a filter on principalId or groupId."""
    if rest != ["privilegedAccess", "group", "eligibilityScheduleInstances"]:
        segment_not_found(next((s for s in rest if s != "privilegedAccess"), "group"))
    allow(call, "GET")
    raw = query(call, "filter")
    clauses = parse_filter(raw) if raw else []
    if (
        not clauses
        or any(
            p not in ("principalId", "groupId", "accessId") or not isinstance(v, str)
            for p, v in clauses
        )
        or not {p for p, _ in clauses} & {"principalId", "groupId"}
    ):
        fail(
            400,
            "BadRequest",
            "The request requires a $filter on principalId or groupId.",
        )
    items = []
    for entry in svc.tenant._group_eligible:
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
        f"{svc.base_url}/$metadata#identityGovernance/privilegedAccess/group/"
        "eligibilityScheduleInstances"
    )
    return page(svc, call, items, context)


def _required_filter(call: GraphCall) -> list[tuple[str, str | bool]]:
    raw = query(call, "filter")
    if not raw:
        fail(
            400,
            "BadRequest",
            "The directory provider requires a $filter on principalId or roleDefinitionId.",
        )
    clauses = parse_filter(raw)
    for prop, value in clauses:
        if prop not in ("principalId", "roleDefinitionId") or not isinstance(value, str):
            fail(400, "BadRequest", f"Filtering on '{prop}' is not supported.")
    return clauses


def _matches(clauses: list[tuple[str, str | bool]], principal: str, definition: str) -> bool:
    actual = {"principalId": principal, "roleDefinitionId": definition}
    return all(actual[p].lower() == str(v).lower() for p, v in clauses)


def _role_definition(definition_id: str, display_name: str, built_in: bool) -> dict[str, Any]:
    return {
        "id": definition_id,
        "displayName": display_name,
        "templateId": definition_id,
        "isBuiltIn": built_in,
        "isEnabled": True,
    }


def _expand_definition(call: GraphCall) -> bool:
    expand = query(call, "expand") or ""
    return "roledefinition" in expand.lower()


def _eligibility_json(entry: EligibleRole, call: GraphCall) -> dict[str, Any]:
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
    if _expand_definition(call):
        out["roleDefinition"] = _role_definition(
            entry.role_definition_id, entry.display_name, entry.built_in
        )
    return out


def _principal_json(svc: Service, principal_id: str) -> dict[str, Any]:
    """``$expand=principal``: the assigned object, typed (a user, a group or a service
    principal)."""
    tenant = svc.tenant
    kind = (
        "user"
        if principal_id in tenant._users
        else "group"
        if principal_id in tenant._groups
        else "servicePrincipal"
    )
    out: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{kind}", "id": principal_id}
    sp = tenant.apps.service_principals.get(principal_id)
    if sp is not None:
        out.update(appId=sp.app_id, displayName=sp.display_name)
    return out


def _assignment_json(assignment: RoleAssignment, call: GraphCall, svc: Service) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": assignment.id,
        "principalId": assignment.principal_id,
        "roleDefinitionId": assignment.role_definition_id,
        "directoryScopeId": assignment.directory_scope_id,
        "appScopeId": None,
        "condition": None,
    }
    if _expand_definition(call):
        out["roleDefinition"] = _role_definition(
            assignment.role_definition_id, assignment.display_name, assignment.built_in
        )
    if "principal" in (query(call, "expand") or "").lower():
        out["principal"] = _principal_json(svc, assignment.principal_id)
    return out
