"""The Bicep templates agree with the code and the documentation.

Parsed with pycep-parser (no Bicep compiler here): the app settings the code reads are the ones
the template sets, the role and app-role ids are Microsoft's documented ones, the Graph
permissions are exactly the documented least-privilege list, and nothing secret is set.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.settings import ENVIRONMENT_NAMES, STORAGE_CONNECTION
from tests.support.app import indexed
from tests.support.bicep import (
    INFRA,
    app_settings,
    bicep_files,
    body,
    parse,
    resources_of_type,
    template,
)
from tests.support.paths import REPO_ROOT

# Settings the template leaves unset on purpose, each documented in the README with its default.
OPTIONAL_SETTINGS = {
    "GRAPH_TIMEOUT_SECONDS",
    "GRAPH_MAX_RETRIES",
    "GRAPH_RETRY_DELAY_SECONDS",
    "LEASE_SECONDS",
    "STATUS_RETRY_AFTER_SECONDS",
    STORAGE_CONNECTION,  # a connection string: local runs only; Azure uses the identity
    "WEBSITE_AUTH_ENABLED",  # set by the platform when App Service Authentication is on
    "CALLER_AUTHORITY",  # public cloud by default; national clouds set it
    "DRY_RUNS_PER_CALLER_PER_HOUR",
    "CALLBACK_ALLOW_LOOPBACK_HTTP",  # local runs only: the templates never set it
    "WEBSITE_HOSTNAME",  # set by the platform: the app's default host name
    "PUBLIC_BASE_URL",  # only behind a custom domain or a front door; else WEBSITE_HOSTNAME
    "VERIFIED_ID_BASE_URL",  # the public Request Service; the emulator overrides it
    "VERIFIED_ID_NAME_MATCH",  # exact by default; relaxed is a deliberate choice
    "VERIFICATION_ATTEMPTS",
}
# Read by the platform rather than by the app's code.
PLATFORM_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
IDENTITY_CONNECTION_KEYS = {"credential", "clientId"}

# Microsoft's ids, the same in every tenant (Azure built-in roles; Graph's app roles).
BUILT_IN_ROLES = {
    "storageBlobDataOwner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storageQueueDataContributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "storageTableDataContributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "monitoringMetricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_APP_ROLES = {
    "UserAuthenticationMethod.ReadWrite.All": "50483e42-d915-4231-9639-7fdb7fd190e5",
    "User.RevokeSessions.All": "77f3a031-c388-4f99-b373-dc68676a979e",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "RoleManagement.Read.Directory": "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
    "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
    "PrivilegedEligibilitySchedule.Read.AzureADGroup": "edb419d6-7edc-42a3-9345-509bfdf5d87c",
    "Policy.Read.AuthenticationMethod": "8e3bc81b-d2f3-4b7b-838c-32c88218d2f0",
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "GroupMember.ReadWrite.All": "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
}


def markdown_section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def table_keys(section: str) -> dict[str, str]:
    """First-column names of a Markdown table (in backticks) -> their row."""
    rows = {}
    for line in section.splitlines():
        for name in re.findall(r"`([^`]+)`", line.split("|")[1] if line.startswith("|") else ""):
            rows[name] = line
    return rows


def permission_names(section: str) -> set[str]:
    """Graph permission names (like ``User.Read.All``) in the first column of its tables."""
    pattern = r"[A-Z][A-Za-z]+(\.[A-Za-z]+)+"
    return {name for name in table_keys(section) if re.fullmatch(pattern, name)}


def binding_settings() -> tuple[set[str], set[str]]:
    """The %SETTING% expressions and the connection names of every binding."""
    expressions: set[str] = set()
    connections: set[str] = set()
    for function in indexed().values():
        for binding in json.loads(function.get_function_json())["bindings"]:
            for value in binding.values():
                if isinstance(value, str):
                    expressions.update(re.findall(r"%([A-Za-z0-9_]+)%", value))
            if "connection" in binding:
                connections.add(binding["connection"])
    return expressions, connections


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_template_parses(path: Path):
    tree = parse(path)
    assert tree["resources"] or tree["modules"], "a template that declares nothing"


def test_the_app_settings_the_code_reads_are_the_ones_the_template_sets():
    settings = set(app_settings(template("app/function.bicep")))
    expressions, connections = binding_settings()
    assert expressions == {"RESET_QUEUE_NAME", "CLEANUP_SCHEDULE"}
    assert connections == {STORAGE_CONNECTION}

    read_by_code = set(ENVIRONMENT_NAMES) | expressions
    missing = read_by_code - settings - OPTIONAL_SETTINGS
    assert missing == set(), "read by the code, set neither by the template nor optional"

    identity_connection = {
        f"{prefix}__{key}"
        for prefix in (*connections, "AzureWebJobsStorage")
        for key in (
            *IDENTITY_CONNECTION_KEYS,
            "queueServiceUri",
            "blobServiceUri",
            "tableServiceUri",
        )
    }
    stale = settings - read_by_code - identity_connection - PLATFORM_SETTINGS
    assert stale == set(), "set by the template, read by nobody"
    assert OPTIONAL_SETTINGS.isdisjoint(settings - {f"{STORAGE_CONNECTION}__clientId"})


def test_every_connection_is_identity_based():
    settings = app_settings(template("app/function.bicep"))
    for prefix, services in (
        (STORAGE_CONNECTION, {"queueServiceUri", "tableServiceUri"}),
        # Blob and queue for the host itself, table for its diagnostic events.
        ("AzureWebJobsStorage", {"queueServiceUri", "blobServiceUri", "tableServiceUri"}),
    ):
        assert prefix not in settings  # no connection string
        assert settings[f"{prefix}__credential"] == "managedidentity"
        assert settings[f"{prefix}__clientId"] == "identityClientId"
        assert {f"{prefix}__{s}" for s in services} <= set(settings)
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )


def test_optional_settings_are_documented_with_their_defaults():
    rows = table_keys(markdown_section(REPO_ROOT / "README.md", "Configuration"))
    for name in (set(ENVIRONMENT_NAMES) | {"CLEANUP_SCHEDULE"}) - {
        f"{STORAGE_CONNECTION}__clientId",
        f"{STORAGE_CONNECTION}__tableServiceUri",
    }:
        assert name in rows, f"{name} is not in the README's configuration table"
    for name in OPTIONAL_SETTINGS:
        default = rows[name].rstrip(" |").rsplit("|", 1)[1].strip()
        assert default, f"{name} has no default in the README"


def test_the_one_secret_goes_to_key_vault_and_nowhere_else():
    """The signing key is the app's one secret: a secure parameter that only the Key Vault
    module stores, read by the app through Key Vault references, never output."""
    texts = {p.name: p.read_text() for p in bicep_files()}
    for name, text in texts.items():
        assert "listKeys(" not in text and "AccountKey=" not in text, name
        secure = re.findall(r"@secure\(\)(?:\s*@[^\n]*)*\s*param (\w+)", text)
        assert set(secure) <= {"workItemSigningKey", "workItemSigningKeyPrevious"}, name
        if secure:
            assert name in ("main.bicep", "keyvault.bicep"), name
    main = template("main.bicep")
    # One output has "key" in its name and is a name itself: the vault's, for the operator's
    # callback secret step. Its value is the vault resource's name and nothing else.
    outputs = dict(main["outputs"])  # the parse is cached: leave it whole
    vault_name = outputs.pop("AZURE_KEY_VAULT_NAME")
    assert _accessor(vault_name["value"]) == ["keyVault", "outputs", "name"]
    assert _accessor(template("app/keyvault.bicep")["outputs"]["name"]["value"]) == [
        "vault",
        "name",
    ]
    for output in outputs:
        assert not re.search(r"key|secret|password|connection", output, re.I), output
    assert "workItemSigningKey" not in json.dumps(main["modules"]["functionApp"])

    vault = template("app/keyvault.bicep")
    (kv,) = resources_of_type(vault, "Microsoft.KeyVault/vaults").values()
    assert body(kv)["properties"]["enableRbacAuthorization"] is True
    assert body(kv)["properties"]["enablePurgeProtection"] is True
    secrets = resources_of_type(vault, "Microsoft.KeyVault/vaults/secrets")
    assert {json.dumps(body(s)["properties"]["value"]) for s in secrets.values()} == {
        json.dumps("workItemSigningKey"),
        json.dumps("workItemSigningKeyPrevious"),
    }
    (reader,) = resources_of_type(vault, "Microsoft.Authorization/roleAssignments").values()
    assert "4633458b-17de-408a-b874-0445c86b69e6" in json.dumps(vault["variables"])
    assert body(reader)["properties"]["principalType"] == "ServicePrincipal"

    settings = app_settings(template("app/function.bicep"))
    # The callback secret: a reference to a secret the operator creates, never a value.
    assert settings["CALLBACK_SIGNING_SECRET"] == "callbackSecretReference"
    assert "@Microsoft.KeyVault(VaultName=" in json.dumps(
        vault["outputs"]["callbackSecretReference"]
    )
    assert "callback-signing-secret" in json.dumps(vault["outputs"]["callbackSecretReference"])
    assert "CALLBACK_ALLOW_LOOPBACK_HTTP" not in settings
    assert settings["WORK_ITEM_SIGNING_KEY"] == "signingKeyReference"
    assert settings["WORK_ITEM_SIGNING_KEY_PREVIOUS"] == "previousSigningKeyReference"
    for output in ("signingKeyReference", "previousSigningKeyReference"):
        assert "@Microsoft.KeyVault(SecretUri=" in json.dumps(vault["outputs"][output])


def test_storage_is_locked_to_identities():
    (storage,) = resources_of_type(
        template("app/storage.bicep"), "Microsoft.Storage/storageAccounts"
    ).values()
    properties = body(storage)["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["minimumTlsVersion"] == "TLS1_2"
    queues = resources_of_type(
        template("app/storage.bicep"), "Microsoft.Storage/storageAccounts/queueServices/queues"
    )
    # Every queue a binding reads or writes, as the code names it (%RESET_QUEUE_NAME%...).
    assert sorted(body(q)["name"] for q in queues.values()) == [
        "${resetQueueName}-callbacks",
        "${resetQueueName}-callbacks-poison",
        "${resetQueueName}-poison",
        "${resetQueueName}-sweep",
        "${resetQueueName}-sweep-poison",
        "resetQueueName",
    ]
    tables = resources_of_type(
        template("app/storage.bicep"), "Microsoft.Storage/storageAccounts/tableServices/tables"
    )
    assert [body(t)["name"] for t in tables.values()] == ["ledgerTableName"]


def test_the_app_is_flex_consumption_python_311_under_one_user_assigned_identity():
    tree = template("app/function.bicep")
    (plan,) = resources_of_type(tree, "Microsoft.Web/serverfarms").values()
    assert body(plan)["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    (site,) = resources_of_type(tree, "Microsoft.Web/sites").values()
    config = body(site)
    assert config["kind"] == "functionapp,linux"
    assert config["identity"]["type"] == "UserAssigned"
    properties = config["properties"]
    assert properties["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert properties["httpsOnly"] is True
    assert properties["siteConfig"]["minTlsVersion"] == "1.2"
    assert "ftpsState" not in properties["siteConfig"]  # Flex Consumption rejects it
    deployment = properties["functionAppConfig"]["deployment"]["storage"]
    assert deployment["authentication"]["type"] == "UserAssignedIdentity"


def test_role_assignments_are_exactly_the_documented_built_in_roles():
    tree = template("app/rbac.bicep")
    assert tree["variables"]["roles"]["value"] == BUILT_IN_ROLES
    assignments = resources_of_type(tree, "Microsoft.Authorization/roleAssignments")
    assert len(assignments) == len(BUILT_IN_ROLES)
    used = set()
    for assignment in assignments.values():
        properties = body(assignment)["properties"]
        assert properties["principalType"] == "ServicePrincipal"
        role = _role_name(properties["roleDefinitionId"])
        used.add(role)
    assert used == set(BUILT_IN_ROLES)


def _accessor(value: Any) -> list[str]:
    """``a.b.c`` (pycep's nested property accessors) -> ["a", "b", "c"]."""
    if isinstance(value, str):
        return [value]
    operands = value["operator"]["operands"]
    assert value["operator"]["type"] == "property_accessor"
    return [*_accessor(operands["operand_1"]), *_accessor(operands["operand_2"])]


def _object(value: dict[str, Any]) -> dict[str, Any]:
    """A Bicep object literal; keys that needed quotes in Bicep keep them in pycep's view."""
    return {key.strip("'"): item for key, item in value.items()}


def _role_name(expression: dict[str, Any]) -> str:
    """``subscriptionResourceId('...', roles.<name>)`` -> name."""
    text = json.dumps(expression)
    names = [name for name in BUILT_IN_ROLES if f'"{name}"' in text]
    assert len(names) == 1, text
    return names[0]


def test_graph_permissions_are_the_documented_least_privilege_list():
    tree = template("app/graph-permissions.bicep")
    assert "microsoftGraphV1" in tree["extensions"]
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    assert config["extensions"]["microsoftGraphV1"].startswith(
        "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:"
    )
    (graph,) = resources_of_type(tree, "Microsoft.Graph/servicePrincipals").values()
    assert graph["existing"] and body(graph)["appId"] == "graphAppId"
    assert tree["variables"]["graphAppId"]["value"] == GRAPH_APP_ID
    reset_roles = _object(tree["variables"]["resetAppRoles"]["value"])
    sweep_roles = _object(tree["variables"]["sweepAppRoles"]["value"])
    assert {**reset_roles, **sweep_roles} == GRAPH_APP_ROLES
    assert set(sweep_roles) == {"GroupMember.ReadWrite.All"}  # only with the group sweep

    for document, heading in (
        ("docs/security.md", "Graph application permissions"),
        ("README.md", "Deploy"),
    ):
        section = markdown_section(REPO_ROOT / document, heading)
        assert permission_names(section) == set(GRAPH_APP_ROLES), document
    (grants,) = resources_of_type(tree, "Microsoft.Graph/appRoleAssignedTo").values()
    assert grants["config"]["loop_type"] is not None  # one assignment per granted role

    # The README's "grant later" commands grant the same app roles as the template.
    later = markdown_section(REPO_ROOT / "README.md", "Deploy").split(
        "### Granting the Graph permissions later", 1
    )[1]
    loop, sweep = later.split("done", 1)
    guid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert set(re.findall(guid, loop)) - {GRAPH_APP_ID} == set(reset_roles.values())
    assert set(re.findall(guid, sweep.split("```", 1)[0])) == set(sweep_roles.values())


def test_callers_tokens_are_checked_for_this_tenant_and_the_api_app():
    settings = app_settings(template("app/function.bicep"))
    assert "tenantId" in json.dumps(settings["CALLER_TENANT_ID"])
    function_params = json.dumps(template("main.bicep")["modules"]["functionApp"])
    assert "api://${authClientId}" in function_params or "api://" in function_params
    assert "callerAudiences" in function_params


def test_graph_permissions_and_app_service_authentication_are_optional_in_main():
    modules = template("main.bicep")["modules"]
    assert modules["graphPermissions"]["config"]["condition"] == "grantGraphPermissions"
    auth_condition = json.dumps(modules["auth"]["config"]["condition"])
    assert "authClientId" in auth_condition
    # Whenever authentication is deployed, the app requires caller roles on its own as well.
    require = json.dumps(body(modules["functionApp"])["params"]["requireCallerRoles"])
    assert require == auth_condition
    settings = app_settings(template("app/function.bicep"))
    assert "requireCallerRoles" in json.dumps(settings["REQUIRE_CALLER_ROLES"])
    parameters = template("main.bicep")["parameters"]
    assert parameters["grantGraphPermissions"]["default"] is True


def test_azd_parameters_match_the_template():
    parameters = template("main.bicep")["parameters"]
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(mapped) <= set(parameters), "main.parameters.json sets parameters main.bicep lacks"
    required = {name for name, p in parameters.items() if p.get("default") is None}
    assert required <= set(mapped), "azd cannot fill a required parameter"


def test_the_deployment_package_leaves_out_what_is_not_the_app():
    ignored = {line.strip() for line in (REPO_ROOT / ".funcignore").read_text().splitlines()}
    for path in (
        "tests/",
        "emulator/",
        "benchmarks/",
        "scripts/",
        "infra/",
        "docs/",
        "node_modules/",
        ".venv/",
        ".venv-*/",
        "local.settings.json",
    ):
        assert path in ignored, path
    for kept in ("shared/", "function_app.py", "host.json", "requirements.txt"):
        assert kept not in ignored


def test_the_storage_replication_flows_from_azd_to_the_storage_account():
    """STORAGE_SKU -> main.parameters.json -> main.bicep -> the storage module -> the account,
    with a default that deploys in every Flex Consumption region (not all have zones)."""
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapped["storageSku"]["value"] == "${STORAGE_SKU=Standard_LRS}"
    main = template("main.bicep")
    assert main["parameters"]["storageSku"]["default"] == "Standard_LRS"
    storage_module = json.dumps(main["modules"]["storage"])
    assert "skuName" in storage_module and "storageSku" in storage_module
    storage = template("app/storage.bicep")
    assert storage["parameters"]["skuName"].get("default") is None  # always passed in
    (account,) = resources_of_type(storage, "Microsoft.Storage/storageAccounts").values()
    assert json.dumps(body(account)["sku"]["name"]) == json.dumps("skuName")


def test_azd_is_recent_enough_for_funcignore_and_the_graph_extension():
    import yaml

    project = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text())
    assert project["requiredVersions"]["azd"] == ">= 1.18.0"
