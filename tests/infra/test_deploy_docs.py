"""The deployment checklist (docs/deploy.md) and the README's deploy steps agree with the project.

An operator copies these commands as they are: every value they read from azd must be an output
the templates write, the variables they set must be ones the hook or the parameters read, the
files they call plain-text secrets must really be kept out of git and the package, and no recipe
may read a key back through `azd env get-value` in a command substitution (azd prints its
"not found" error on standard output, which such a recipe would store as a key).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.support.bicep import INFRA, template
from tests.support.paths import REPO_ROOT

DOCS = {
    "docs/deploy.md": (REPO_ROOT / "docs" / "deploy.md").read_text(),
    "README.md": (REPO_ROOT / "README.md").read_text(),
}
HOOK = (INFRA / "hooks" / "signing-key.sh").read_text()
# Values azd itself keeps in every environment, not template outputs.
AZD_VALUES = {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID"}


@pytest.mark.parametrize("name", DOCS)
def test_every_value_read_from_azd_is_an_output_of_the_templates(name: str):
    read = set(re.findall(r"azd env get-value ([A-Z_]+)", DOCS[name]))
    assert read, name
    outputs = set(template("main.bicep")["outputs"])
    assert read - outputs - AZD_VALUES == set(), name


@pytest.mark.parametrize("name", DOCS)
def test_every_variable_set_is_read_by_the_hook_or_the_parameters(name: str):
    written = set(re.findall(r"azd env set ([A-Z_]+)", DOCS[name]))
    mapped = (INFRA / "main.parameters.json").read_text()
    for variable in written:
        assert f"${{{variable}" in mapped or variable in HOOK, (name, variable)


@pytest.mark.parametrize("name", DOCS)
def test_no_recipe_reads_a_key_back_through_a_command_substitution(name: str):
    assert not re.search(r"\$\(azd env get-value WORK_ITEM_SIGNING_KEY", DOCS[name]), name


def test_the_files_called_plain_text_secrets_stay_out_of_git_and_the_package():
    assert ".azure/<environment>/.env" in DOCS["docs/deploy.md"]
    for ignore in (".gitignore", ".funcignore"):
        lines = (REPO_ROOT / ignore).read_text().splitlines()
        assert ".azure/" in lines, ignore
    # The hooks are not part of the package either (infra/ is left out whole).
    assert "infra/" in (REPO_ROOT / ".funcignore").read_text().splitlines()


def test_the_checklist_names_the_roles_and_steps_the_issue_asked_for():
    text = DOCS["docs/deploy.md"]
    for needed in (
        "Owner, or Contributor plus Role",
        "Key Vault Secrets Officer",
        "az login",
        "azd auth login",
        "azd 1.18.0",
        "0.36.1",
        "az functionapp restart",
        "azd env get-value RESETS_URL",
        "STORAGE_SKU",
        "workItemSigningKey",
        "msgraph-bicep-types/issues/161",
        "--output none",
    ):
        assert needed in text, needed


def test_the_revoke_step_names_the_sweep_permission_the_template_grants():
    roles = template("app/graph-permissions.bicep")["variables"]["sweepAppRoles"]["value"]
    (sweep_role,) = roles.values()
    text = DOCS["docs/deploy.md"]
    assert f"GroupMember.ReadWrite.All is app role {sweep_role}" in text
    assert "RESET_GROUP_ID" in text


def test_the_key_recipe_without_azd_is_the_hooks():
    generate = re.search(r"od -An[^|]*\| tr -d ' \\n'", HOOK)
    assert generate and generate.group(0) in DOCS["docs/deploy.md"]
    secure = template("main.bicep")["parameters"]["workItemSigningKey"]
    assert {d["type"] for d in secure["decorators"]} >= {"secure", "min_length"}
    assert secure.get("default") is None  # required: the without-azd path must pass it


def test_the_pinned_graph_extension_is_the_one_the_checklist_discusses():
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    pinned = config["extensions"]["microsoftGraphV1"].rsplit("/", 1)[1]
    assert f"`microsoftgraph/{pinned}`" in DOCS["docs/deploy.md"]
