"""revokeSignInSessions, group membership (paging, $ref), directory roles and PIM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from emulator import GraphEmulator, Tenant
from emulator.demo import ADELE_ID, ALEX_ID, DIEGO_ID, MEGAN_ID
from tests.emulator.emu_helpers import ADELE, assert_graph_error

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"

# -- revokeSignInSessions -------------------------------------------------------------------


def test_revoke_returns_200_with_boolean(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = client.post(f"/users/{ADELE}/revokeSignInSessions")
    assert response.status_code == 200
    assert response.json() == {
        "@odata.context": f"{emu.base_url}/$metadata#Edm.Boolean",
        "value": True,
    }
    assert tenant.revocations(ADELE_ID) == 1
    valid_from = client.get(
        f"/users/{ADELE_ID}", params={"$select": "signInSessionsValidFromDateTime"}
    ).json()["signInSessionsValidFromDateTime"]
    assert datetime.fromisoformat(valid_from) >= before


def test_revoke_can_answer_204(tenant: Tenant, client: httpx.Client) -> None:
    tenant.revoke_returns_204 = True
    response = client.post(f"/users/{ALEX_ID}/revokeSignInSessions")
    assert response.status_code == 204
    assert response.content == b""
    assert client.post(f"/users/{ALEX_ID}/revokeSignInSessions").status_code == 204
    assert tenant.revocations(ALEX_ID) == 2
    assert tenant.revocations(ADELE_ID) == 0


def test_revoke_requires_post_and_known_user(tenant: Tenant, client: httpx.Client) -> None:
    assert_graph_error(
        client.get(f"/users/{ADELE}/revokeSignInSessions"), 405, "Request_BadRequest"
    )
    assert_graph_error(
        client.post("/users/ghost@contoso.example/revokeSignInSessions"),
        404,
        "Request_ResourceNotFound",
    )
    assert tenant.revocations(ADELE_ID) == 0


# -- group membership -----------------------------------------------------------------------


@pytest.fixture
def big_group(tenant: Tenant) -> str:
    group = tenant.add_group("MFA reset pending")
    for n in range(250):
        user = tenant.add_user(f"bulk{n:03d}@contoso.example", display_name=f"Bulk {n}")
        tenant.add_member(group.id, user.id)
    return group.id


def _follow(
    client: httpx.Client, first: str, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    response = client.get(first, params=params)
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        next_link = response.json().get("@odata.nextLink")
        if not next_link:
            return pages
        response = client.get(next_link)


def test_members_paged_over_three_pages(
    emu: GraphEmulator, client: httpx.Client, big_group: str
) -> None:
    pages = _follow(client, f"/groups/{big_group}/members")
    assert [len(p["value"]) for p in pages] == [100, 100, 50]
    for page in pages[:-1]:
        link = page["@odata.nextLink"]
        assert link.startswith(f"{emu.base_url}/groups/{big_group}/members?")
        assert "$skiptoken=" in link
    assert "@odata.nextLink" not in pages[-1]
    ids = [m["id"] for p in pages for m in p["value"]]
    assert len(set(ids)) == 250
    assert all(m["@odata.type"] == "#microsoft.graph.user" for p in pages for m in p["value"])


def test_members_user_cast_with_top_and_select(client: httpx.Client, big_group: str) -> None:
    for cast in ("graph.user", "microsoft.graph.user"):
        pages = _follow(
            client,
            f"/groups/{big_group}/members/{cast}",
            {"$top": "120", "$select": "id,userPrincipalName"},
        )
        assert [len(p["value"]) for p in pages] == [120, 120, 10]
        assert "$select=id,userPrincipalName" in pages[0]["@odata.nextLink"]
        first = pages[1]["value"][0]
        assert set(first) == {"@odata.type", "id", "userPrincipalName"}
        assert first["userPrincipalName"].startswith("bulk")


def test_members_top_limits(client: httpx.Client, big_group: str) -> None:
    whole = client.get(f"/groups/{big_group}/members", params={"$top": "999"}).json()
    assert len(whole["value"]) == 250
    assert "@odata.nextLink" not in whole
    assert_graph_error(
        client.get(f"/groups/{big_group}/members", params={"$top": "1000"}),
        400,
        "Request_BadRequest",
    )


def test_members_of_unknown_group_is_404(client: httpx.Client) -> None:
    assert_graph_error(
        client.get("/groups/00000000-0000-0000-0000-00000000dead/members"),
        404,
        "Request_ResourceNotFound",
    )


def test_transitive_members_include_nested(tenant: Tenant, client: httpx.Client) -> None:
    outer = tenant.add_group("Outer")
    inner = tenant.add_group("Inner")
    tenant.add_member(outer.id, ADELE_ID)
    tenant.add_member(outer.id, inner.id)
    tenant.add_member(inner.id, ALEX_ID)
    direct = client.get(f"/groups/{outer.id}/members").json()["value"]
    assert {m["id"] for m in direct} == {ADELE_ID, inner.id}
    transitive = client.get(f"/groups/{outer.id}/transitiveMembers").json()["value"]
    assert {m["id"] for m in transitive} == {ADELE_ID, inner.id, ALEX_ID}
    users = client.get(f"/groups/{outer.id}/transitiveMembers/graph.user").json()["value"]
    assert {m["id"] for m in users} == {ADELE_ID, ALEX_ID}


def test_remove_member_with_ref(emu: GraphEmulator, tenant: Tenant, client: httpx.Client) -> None:
    group = tenant.add_group("MFA reset pending")
    tenant.add_member(group.id, ADELE_ID)
    tenant.add_member(group.id, ALEX_ID)
    response = client.delete(f"/groups/{group.id}/members/{ADELE_ID}/$ref")
    assert response.status_code == 204
    assert tenant.members(group.id) == [ALEX_ID]
    again = client.delete(f"/groups/{group.id}/members/{ADELE_ID}/$ref")
    error = assert_graph_error(again, 404, "Request_ResourceNotFound")
    assert ADELE_ID in error["message"]
    assert emu.writes()[-1].path == f"/v1.0/groups/{group.id}/members/{ADELE_ID}/$ref"


def test_remove_member_without_ref_is_refused_and_deletes_nothing(
    emu: GraphEmulator, tenant: Tenant, client: httpx.Client
) -> None:
    group = tenant.add_group("MFA reset pending")
    tenant.add_member(group.id, ADELE_ID)
    response = client.delete(f"/groups/{group.id}/members/{ADELE_ID}")
    assert_graph_error(response, 403, "Authorization_RequestDenied")
    assert tenant.members(group.id) == [ADELE_ID]
    assert tenant.user(ADELE_ID) is not None
    recorded = emu.writes()[-1]
    assert (recorded.method, recorded.status) == ("DELETE", 403)
    assert recorded.path == f"/v1.0/groups/{group.id}/members/{ADELE_ID}"


# -- directory roles and PIM ---------------------------------------------------------------


def test_transitive_roles_through_nested_group(tenant: Tenant, client: httpx.Client) -> None:
    admins = tenant.add_group("Tier 0 admins", role_assignable=True)
    nested = tenant.add_group("Break-glass")
    tenant.add_member(admins.id, nested.id)
    tenant.add_member(nested.id, DIEGO_ID)
    tenant.add_directory_role(admins.id, "Global Administrator")
    tenant.add_directory_role(DIEGO_ID, "Helpdesk Administrator")

    for cast in ("graph.directoryRole", "microsoft.graph.directoryRole"):
        body = client.get(f"/users/{DIEGO_ID}/transitiveMemberOf/{cast}").json()
        roles = {r["roleTemplateId"]: r for r in body["value"]}
        assert set(roles) == {GLOBAL_ADMIN, HELPDESK_ADMIN}
        admin = roles[GLOBAL_ADMIN]
        assert admin["@odata.type"] == "#microsoft.graph.directoryRole"
        assert admin["displayName"] == "Global Administrator"
        assert set(admin) >= {"id", "description", "deletedDateTime"}

    direct = client.get(f"/users/{DIEGO_ID}/memberOf/graph.directoryRole").json()["value"]
    assert [r["roleTemplateId"] for r in direct] == [HELPDESK_ADMIN]
    groups = client.get(f"/users/{DIEGO_ID}/transitiveMemberOf/graph.group").json()["value"]
    assert {g["id"] for g in groups} == {admins.id, nested.id}


def test_user_without_roles_has_empty_list(client: httpx.Client) -> None:
    body = client.get(f"/users/{MEGAN_ID}/transitiveMemberOf/graph.directoryRole").json()
    assert body["value"] == []


def test_role_eligibility_requires_filter(tenant: Tenant, client: httpx.Client) -> None:
    tenant.add_eligible_role(ALEX_ID, "User Administrator")
    path = "/roleManagement/directory/roleEligibilityScheduleInstances"
    assert_graph_error(client.get(path), 400, "BadRequest")
    body = client.get(path, params={"$filter": f"principalId eq '{ALEX_ID}'"}).json()
    assert [(e["principalId"], e["roleDefinitionId"]) for e in body["value"]] == [
        (ALEX_ID, USER_ADMIN)
    ]
    assert body["value"][0]["directoryScopeId"] == "/"
    other = client.get(path, params={"$filter": f"principalId eq '{ADELE_ID}'"}).json()
    assert other["value"] == []


def test_role_eligibility_expand_definition(tenant: Tenant, client: httpx.Client) -> None:
    tenant.add_eligible_role(ALEX_ID, "User Administrator")
    body = client.get(
        "/roleManagement/directory/roleEligibilityScheduleInstances",
        params={"$filter": f"principalId eq '{ALEX_ID}'", "$expand": "roleDefinition"},
    ).json()
    assert body["value"][0]["roleDefinition"]["displayName"] == "User Administrator"


def test_role_assignments_filter_or_list_the_tenant(tenant: Tenant, client: httpx.Client) -> None:
    """Graph's current page requires no filter: without one, every assignment of the tenant,
    its principal typed under ``$expand=principal`` (a service principal too)."""
    tenant.add_directory_role(ADELE_ID, "Global Administrator")
    robot = tenant.apps.add_application("Provisioning robot")
    tenant.apps.assign_directory_role(robot.id, "User Administrator", USER_ADMIN)
    path = "/roleManagement/directory/roleAssignments"
    body = client.get(path, params={"$filter": f"principalId eq '{ADELE_ID}'"}).json()
    assert [a["roleDefinitionId"] for a in body["value"]] == [GLOBAL_ADMIN]
    listed = client.get(path, params={"$expand": "principal"}).json()["value"]
    assert {(a["principal"]["@odata.type"], a["principalId"]) for a in listed} == {
        ("#microsoft.graph.user", ADELE_ID),
        ("#microsoft.graph.servicePrincipal", robot.id),
    }
    unsupported = {"$filter": "directoryScopeId eq '/'"}
    assert_graph_error(client.get(path, params=unsupported), 400, "BadRequest")


def test_groups_collection_and_item(tenant: Tenant, client: httpx.Client) -> None:
    group = tenant.add_group("MFA reset pending", role_assignable=True)
    tenant.add_group("Other")
    listed = client.get(
        "/groups",
        params={"$filter": "displayName eq 'MFA reset pending'", "$select": "displayName"},
    ).json()["value"]
    assert listed == [{"displayName": "MFA reset pending", "id": group.id}]
    item = client.get(f"/groups/{group.id}").json()
    assert item["isAssignableToRole"] is True
    assert item["id"] == group.id


# -- every path to a role: scopes, custom roles, PIM for Groups, owners, restricted units --------


def test_role_assignments_show_unit_scopes_and_custom_roles(
    tenant: Tenant, client: httpx.Client
) -> None:
    unit = tenant.add_administrative_unit("EMEA")
    scope = f"/administrativeUnits/{unit.id}"
    tenant.add_directory_role(ALEX_ID, "Helpdesk Administrator", directory_scope_id=scope)
    custom = tenant.add_custom_role_assignment(ALEX_ID, "MFA Operators")
    body = client.get(
        "/roleManagement/directory/roleAssignments",
        params={"$filter": f"principalId eq '{ALEX_ID}'", "$expand": "roleDefinition"},
    ).json()
    found = {(a["roleDefinitionId"], a["directoryScopeId"]): a for a in body["value"]}
    assert set(found) == {(HELPDESK_ADMIN, scope), (custom.role_definition_id, "/")}
    assert found[(HELPDESK_ADMIN, scope)]["roleDefinition"]["isBuiltIn"] is True
    assert found[(custom.role_definition_id, "/")]["roleDefinition"] == {
        "id": custom.role_definition_id,
        "displayName": "MFA Operators",
        "templateId": custom.role_definition_id,
        "isBuiltIn": False,
        "isEnabled": True,
    }
    # Neither is a directoryRole membership: memberOf misses both, as in Graph.
    roles = client.get(f"/users/{ALEX_ID}/transitiveMemberOf/graph.directoryRole").json()
    assert roles["value"] == []
    with pytest.raises(ValueError, match="administrative unit"):
        tenant.add_directory_role(ALEX_ID, "User Administrator", directory_scope_id="/nowhere")


def test_role_eligibility_at_unit_scope(tenant: Tenant, client: httpx.Client) -> None:
    unit = tenant.add_administrative_unit("Branch")
    scope = f"/administrativeUnits/{unit.id}"
    tenant.add_eligible_role(ALEX_ID, "User Administrator", directory_scope_id=scope)
    body = client.get(
        "/roleManagement/directory/roleEligibilityScheduleInstances",
        params={"$filter": f"principalId eq '{ALEX_ID}'"},
    ).json()
    assert [e["directoryScopeId"] for e in body["value"]] == [scope]


def test_pim_for_groups_eligibility_requires_a_filter(tenant: Tenant, client: httpx.Client) -> None:
    group = tenant.add_group("Tier 0", role_assignable=True)
    tenant.add_group_eligibility(ALEX_ID, group.id, access="owner")
    tenant.add_group_eligibility(ADELE_ID, group.id)
    path = "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances"
    assert_graph_error(client.get(path), 400, "BadRequest")
    assert_graph_error(
        client.get(path, params={"$filter": "accessId eq 'owner'"}), 400, "BadRequest"
    )
    mine = client.get(path, params={"$filter": f"principalId eq '{ALEX_ID}'"}).json()["value"]
    assert [(e["groupId"], e["accessId"], e["principalId"]) for e in mine] == [
        (group.id, "owner", ALEX_ID)
    ]
    assert set(mine[0]) >= {"id", "memberType", "startDateTime", "endDateTime"}
    by_group = client.get(path, params={"$filter": f"groupId eq '{group.id}'"}).json()["value"]
    assert {e["principalId"] for e in by_group} == {ALEX_ID, ADELE_ID}
    with pytest.raises(ValueError, match="member"):
        tenant.add_group_eligibility(ALEX_ID, group.id, access="admin")


def test_role_assignable_groups_with_owners_expanded_up_to_twenty(
    tenant: Tenant, client: httpx.Client
) -> None:
    crowded = tenant.add_group("Crowded", role_assignable=True)
    tenant.add_group("Plain")  # not role-assignable: not listed
    owners = [tenant.add_user(f"owner{n}@contoso.example").id for n in range(23)]
    for owner in owners:
        tenant.add_owner(crowded.id, owner)
    listed = client.get(
        "/groups",
        params={
            "$filter": "isAssignableToRole eq true",
            "$select": "id,displayName,isAssignableToRole",
            "$expand": "owners($select=id)",
        },
    ).json()["value"]
    assert [g["id"] for g in listed] == [crowded.id]
    assert [o["id"] for o in listed[0]["owners"]] == owners[:20]
    assert listed[0]["owners"][0]["@odata.type"] == "#microsoft.graph.user"
    full = client.get(f"/groups/{crowded.id}/owners", params={"$select": "id"}).json()
    assert [o["id"] for o in full["value"]] == owners
    bad = client.get("/groups", params={"$expand": "members"})
    assert_graph_error(bad, 400, "BadRequest")


def test_is_management_restricted_only_on_select(tenant: Tenant, client: httpx.Client) -> None:
    vip = tenant.add_administrative_unit("VIP", restricted=True)
    plain = tenant.add_administrative_unit("Plain")
    tenant.add_unit_member(plain.id, ALEX_ID)
    select = {"$select": "id,isManagementRestricted"}
    assert client.get(f"/users/{ALEX_ID}", params=select).json()["isManagementRestricted"] is False
    tenant.add_unit_member(vip.id, ALEX_ID)
    assert client.get(f"/users/{ALEX_ID}", params=select).json()["isManagementRestricted"] is True
    assert "isManagementRestricted" not in client.get(f"/users/{ALEX_ID}").json()
