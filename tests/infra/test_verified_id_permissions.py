"""The Verified ID grant: the app role VerifiableCredential.Create.PresentRequest on the
"Verifiable Credentials Service Request" service principal, looked up by its value (public code
disagrees on the role's id), deployed only when Verified ID is configured.

The lookup is written with string functions (checkov's and pycep's Bicep parsers cannot read
the lambda filter() needs); it is evaluated here on appRoles lists shaped as Graph returns them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.bicep import INFRA, body, resources_of_type, template
from tests.support.bicep_eval import evaluate, variables
from tests.support.paths import REPO_ROOT

MODULE = "app/verified-id-permissions.bicep"
REQUEST_SERVICE_APP_ID = "3db474b9-6a0c-4840-96ac-1fceb342124f"
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Ids made up for the test: which id is right differs between public scripts, so the
# template must take whatever the tenant's service principal says.
PRESENT_ID = "11111111-2222-4333-8444-555555555555"


def _role(value: str, role_id: str, description: str = "") -> dict[str, Any]:
    """An appRole as Graph returns it (its properties in Graph's order)."""
    return {
        "allowedMemberTypes": ["Application"],
        "description": description or f"Allows the app to {value}.",
        "displayName": value,
        "id": role_id,
        "isEnabled": True,
        "origin": "Application",
        "value": value,
    }


APP_ROLES = [
    _role("VerifiableCredential.Create.All", "949ebb93-18f8-41b4-b677-c2bfea940027"),
    _role("VerifiableCredential.Create.IssueRequest", "0165bd66-5f36-41ef-abde-4e8fc0c91294"),
    _role("VerifiableCredential.Create.PresentRequest", PRESENT_ID),
]


def _found(app_roles: list[dict[str, Any]]) -> Any:
    scope = {"requestService": {"appRoles": app_roles, "id": "sp-object-id"}}
    return variables(template(MODULE), scope).get("presentRequestRole")


@pytest.mark.parametrize(
    "app_roles",
    [
        APP_ROLES,
        list(reversed(APP_ROLES)),
        [APP_ROLES[2]],
        # Another property order, and a description that names the other roles.
        [
            {k: v for k, v in reversed(list(role.items()))}
            | {"description": "Not VerifiableCredential.Create.All: presentation only."}
            for role in APP_ROLES
        ],
    ],
)
def test_the_role_is_found_by_its_value(app_roles: list[dict[str, Any]]) -> None:
    role = _found(app_roles)
    assert role["id"] == PRESENT_ID
    assert role["value"] == "VerifiableCredential.Create.PresentRequest"


def test_a_service_principal_without_the_role_fails_rather_than_grant_another() -> None:
    assert _found(APP_ROLES[:2]) is None  # substring() fails: the deployment stops


def test_the_module_grants_that_role_on_the_request_service_principal() -> None:
    tree = template(MODULE)
    assert "microsoftGraphV1" in tree["extensions"]
    (service,) = resources_of_type(tree, "Microsoft.Graph/servicePrincipals").values()
    assert service["existing"] and body(service)["appId"] == "requestServiceAppId"
    assert tree["variables"]["requestServiceAppId"]["value"] == REQUEST_SERVICE_APP_ID
    (grant,) = resources_of_type(tree, "Microsoft.Graph/appRoleAssignedTo").values()
    config = body(grant)
    assert config["principalId"] == "principalId"
    accessor = {"operand_1": "requestService", "operand_2": "id"}
    assert config["resourceId"]["operator"]["operands"] == accessor
    assert config["appRoleId"]["operator"]["operands"] == {
        "operand_1": "presentRequestRole",
        "operand_2": "id",
    }
    # One grant, and no role id written down: the only GUID is the service's appId.
    source = (INFRA / MODULE).read_text()
    assert set(GUID.findall(source)) == {REQUEST_SERVICE_APP_ID}
    code = [line for line in source.splitlines() if not line.lstrip().startswith("//")]
    assert not [line for line in code if "=>" in line]  # no lambda


@pytest.mark.parametrize(
    ("authority", "grant_graph", "deployed"),
    [
        ("did:web:verifiedid.contoso.com", True, True),
        ("", True, False),
        ("   ", True, False),
        ("did:web:verifiedid.contoso.com", False, False),
    ],
)
def test_main_grants_it_only_when_verified_id_is_configured(
    authority: str, grant_graph: bool, deployed: bool
) -> None:
    module = template("main.bicep")["modules"]["verifiedIdPermissions"]
    scope = {"verifiedIdAuthority": authority, "grantGraphPermissions": grant_graph}
    assert evaluate(module["config"]["condition"], scope) is deployed
    assert "identity" in json.dumps(body(module)["params"]["principalId"])


def test_azd_sets_the_authority_from_verified_id_authority() -> None:
    parameters = template("main.bicep")["parameters"]
    assert parameters["verifiedIdAuthority"]["default"] == ""
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapped["verifiedIdAuthority"] == {"value": "${VERIFIED_ID_AUTHORITY=}"}


def test_the_deploy_checklist_says_how_to_check_and_revoke_the_grant() -> None:
    text = (REPO_ROOT / "docs" / "deploy.md").read_text()
    section = text.split("Verified ID app role", 1)[1].split("\n## ", 1)[0]
    assert REQUEST_SERVICE_APP_ID in section
    assert "VerifiableCredential.Create.PresentRequest" in section
    assert "VERIFIED_ID_AUTHORITY" in section
    assert "appRoleAssignments" in section  # check
    assert "DELETE" in section  # revoke
