"""Service principals, applications, their owners and app role assignments, as Graph serves
them: addressed by object id or by appId, with Microsoft Graph's service principal seeded."""

from __future__ import annotations

import httpx

from emulator import GraphEmulator, Tenant
from emulator.apps import GRAPH_APP_ID, GRAPH_APP_ROLES
from emulator.demo import ADELE_ID, ALEX_ID
from tests.emulator.emu_helpers import assert_graph_error

GRAPH_SP = f"/servicePrincipals(appId='{GRAPH_APP_ID}')"


def test_graph_service_principal_serves_its_app_roles(
    tenant: Tenant, emu: GraphEmulator, client: httpx.Client
) -> None:
    body = client.get(GRAPH_SP, params={"$select": "id,appRoles"}).json()
    assert body["id"] == tenant.apps.graph.id and "appId" not in body
    roles = {r["value"]: r["id"] for r in body["appRoles"]}
    assert (
        roles["RoleManagement.ReadWrite.Directory"]
        == GRAPH_APP_ROLES["RoleManagement.ReadWrite.Directory"]
    )
    by_id = client.get(f"/servicePrincipals/{tenant.apps.graph.id}").json()
    assert by_id["appId"] == GRAPH_APP_ID


def test_app_role_assignments_and_owners(
    tenant: Tenant, emu: GraphEmulator, client: httpx.Client
) -> None:
    robot = tenant.apps.add_application("Provisioning robot")
    tenant.apps.grant(robot.id, "Directory.ReadWrite.All")
    tenant.apps.add_sp_owner(robot.id, ADELE_ID)
    tenant.apps.add_app_owner(robot.id, ALEX_ID)

    granted = client.get(f"{GRAPH_SP}/appRoleAssignedTo").json()["value"]
    assert [(a["principalId"], a["principalType"], a["appRoleId"]) for a in granted] == [
        (robot.id, "ServicePrincipal", GRAPH_APP_ROLES["Directory.ReadWrite.All"])
    ]
    sp_owners = client.get(f"/servicePrincipals/{robot.id}/owners", params={"$select": "id"})
    assert [o["id"] for o in sp_owners.json()["value"]] == [ADELE_ID]
    assert sp_owners.json()["value"][0]["@odata.type"] == "#microsoft.graph.user"
    app_owners = client.get(f"/applications(appId='{robot.app_id}')/owners").json()["value"]
    assert [o["id"] for o in app_owners] == [ALEX_ID]
    app = tenant.apps.application_of(robot.id)
    assert app is not None
    assert client.get(f"/applications/{app.id}/owners").json()["value"] == app_owners


def test_an_application_registered_elsewhere_is_not_found(
    tenant: Tenant, emu: GraphEmulator, client: httpx.Client
) -> None:
    """A multi-tenant app's service principal exists here; its application object does not."""
    foreign = tenant.apps.add_application("Partner app", registered_here=False)
    assert client.get(f"/servicePrincipals/{foreign.id}").status_code == 200
    missing = client.get(f"/applications(appId='{foreign.app_id}')/owners")
    assert_graph_error(missing, 404, "Request_ResourceNotFound")
    assert client.post(f"/servicePrincipals/{foreign.id}/owners", json={}).status_code == 405
