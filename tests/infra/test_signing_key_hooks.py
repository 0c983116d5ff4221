"""The signing-key hooks make `azd up` work the first time, with no prompt, and keep the key.

The POSIX hook runs here for real, against a stand-in `azd` that behaves as azd does (errors on
standard output, the environment's values handed to hooks as environment variables, parameters
resolved from main.parameters.json); see tests/support/azd_hooks.py. The Windows hook cannot run
here (no PowerShell): tests/infra/test_powershell_hook.py parses it and holds it to the same
contract.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.azd_hooks import Project, azd_provision, azd_up, new_project, run_hook

HEX_KEY = re.compile(r"[0-9a-f]{64}")
OLD_KEY = "k" * 48  # a key made by an earlier version of the hook: any 32+ characters


@pytest.fixture
def project(tmp_path) -> Project:
    return new_project(tmp_path)


def set_calls(project: Project) -> list[list[str]]:
    return [call for call in project.calls() if call[:2] == ["env", "set"]]


def assert_never_printed(project: Project, *secrets: str) -> None:
    for text in project.outputs:
        for secret in secrets:
            assert secret not in text, "a key reached the hook's output"


def test_the_stand_in_prints_azd_errors_on_standard_output(project: Project):
    """Why the hooks never ask `azd env get-value`: the old hook's test was never empty."""
    result = project.azd("env", "get-value", "WORK_ITEM_SIGNING_KEY")
    assert result.returncode == 1 and result.stderr == ""
    assert "ERROR: key 'WORK_ITEM_SIGNING_KEY' not found" in result.stdout
    old_hook = 'test -z "$(azd env get-value WORK_ITEM_SIGNING_KEY 2>/dev/null)"'
    run = subprocess.run(  # the old hook's condition, verbatim
        ["sh", "-c", old_hook],
        cwd=project.root,
        env={**project.process_env(), "AZURE_ENV_NAME": project.name},
        check=False,
    )
    assert run.returncode == 1, "the old hook saw a key where there was none"


def test_a_fresh_environment_gets_a_key_and_azd_up_asks_nothing(project: Project):
    parameters = azd_up(project, project.process_env())
    key = project.values()["WORK_ITEM_SIGNING_KEY"]
    assert HEX_KEY.fullmatch(key)
    assert parameters["workItemSigningKey"] == key
    assert "workItemSigningKeyPrevious" not in parameters
    # Generated once (by preup), not again by preprovision; never read with get-value.
    assert len(set_calls(project)) == 1
    assert not [call for call in project.calls() if call[:2] == ["env", "get-value"]]
    assert_never_printed(project, key)


def test_azd_provision_alone_gets_a_key_too(project: Project):
    parameters = azd_provision(project, project.process_env())
    assert HEX_KEY.fullmatch(parameters["workItemSigningKey"])


def test_two_environments_get_two_keys(tmp_path):
    first, second = new_project(tmp_path / "a"), new_project(tmp_path / "b", name="other")
    for project in (first, second):
        azd_up(project, project.process_env())
    assert first.values()["WORK_ITEM_SIGNING_KEY"] != second.values()["WORK_ITEM_SIGNING_KEY"]


def test_an_existing_environment_deploys_its_key_again_unchanged(project: Project):
    project.set(WORK_ITEM_SIGNING_KEY=OLD_KEY)
    for _ in range(2):
        parameters = azd_up(project, project.process_env())
        assert parameters["workItemSigningKey"] == OLD_KEY
    assert project.values()["WORK_ITEM_SIGNING_KEY"] == OLD_KEY
    assert set_calls(project) == []
    assert_never_printed(project, OLD_KEY)


def test_rotation_keeps_the_old_key_as_previous_and_rotates_once(project: Project):
    project.set(WORK_ITEM_SIGNING_KEY=OLD_KEY)
    project.azd("env", "set", "WORK_ITEM_SIGNING_KEY_ROTATE", "true")
    parameters = azd_up(project, project.process_env())  # preup rotates, preprovision must not
    values = project.values()
    assert values["WORK_ITEM_SIGNING_KEY_PREVIOUS"] == OLD_KEY
    assert HEX_KEY.fullmatch(values["WORK_ITEM_SIGNING_KEY"])
    assert values["WORK_ITEM_SIGNING_KEY_ROTATE"] == "false"
    assert parameters["workItemSigningKey"] == values["WORK_ITEM_SIGNING_KEY"]
    assert parameters["workItemSigningKeyPrevious"] == OLD_KEY
    assert len(set_calls(project)) == 2  # the operator's request, the hook's one write
    # The next deployment deploys both unchanged; clearing the previous key drops it.
    assert azd_up(project, project.process_env()) == parameters
    project.azd("env", "set", "WORK_ITEM_SIGNING_KEY_PREVIOUS", "")
    assert "workItemSigningKeyPrevious" not in azd_up(project, project.process_env())
    assert_never_printed(project, OLD_KEY, values["WORK_ITEM_SIGNING_KEY"])


def test_rotation_requested_on_a_fresh_environment_generates_once(project: Project):
    project.azd("env", "set", "WORK_ITEM_SIGNING_KEY_ROTATE", "true")
    azd_up(project, project.process_env())
    values = project.values()
    assert "WORK_ITEM_SIGNING_KEY_PREVIOUS" not in values
    assert values["WORK_ITEM_SIGNING_KEY_ROTATE"] == "false"
    key = values["WORK_ITEM_SIGNING_KEY"]
    azd_up(project, project.process_env())
    assert project.values()["WORK_ITEM_SIGNING_KEY"] == key


def test_an_error_message_stored_as_a_key_stops_the_deployment(project: Project):
    """What the README's old rotation recipe stored: `azd env get-value`'s stdout."""
    error = project.azd("env", "get-value", "WORK_ITEM_SIGNING_KEY").stdout.strip()
    assert len(error) >= 32  # long enough for the app's length check alone
    project.set(WORK_ITEM_SIGNING_KEY=OLD_KEY, WORK_ITEM_SIGNING_KEY_PREVIOUS=error)
    result = run_hook(project, "preup", project.process_env())
    assert result.returncode == 1
    assert "WORK_ITEM_SIGNING_KEY_PREVIOUS holds text with blanks" in result.stderr
    assert set_calls(project) == []


def test_the_rotation_switch_is_true_or_false_in_any_case(project: Project):
    project.set(WORK_ITEM_SIGNING_KEY=OLD_KEY, WORK_ITEM_SIGNING_KEY_ROTATE="TRUE")
    azd_up(project, project.process_env())
    assert project.values()["WORK_ITEM_SIGNING_KEY_PREVIOUS"] == OLD_KEY
    project.set(WORK_ITEM_SIGNING_KEY_ROTATE="yes")
    result = run_hook(project, "preup", project.process_env())
    assert result.returncode == 1 and "must be true or false" in result.stderr


def test_a_short_key_stops_the_deployment(project: Project):
    project.set(WORK_ITEM_SIGNING_KEY="too-short")
    result = run_hook(project, "preprovision", project.process_env())
    assert result.returncode == 1 and "9 characters" in result.stderr


def test_ci_deploys_the_pipeline_secret_as_it_is(project: Project):
    """A pipeline secret reaches azd as a process variable; the runner's .env has no key."""
    ci = project.process_env(CI="true", WORK_ITEM_SIGNING_KEY=OLD_KEY)
    parameters = azd_up(project, ci)
    assert parameters["workItemSigningKey"] == OLD_KEY
    assert set_calls(project) == []


@pytest.mark.parametrize("marker", [{"CI": "true"}, {"TF_BUILD": "True"}])
def test_ci_without_a_key_refuses_rather_than_replace_the_deployed_one(
    project: Project, marker: dict[str, str]
):
    result = run_hook(project, "preup", project.process_env(**marker))
    assert result.returncode == 1
    assert "pipeline secret WORK_ITEM_SIGNING_KEY" in result.stderr
    assert set_calls(project) == []


def test_the_hook_refuses_to_run_outside_azd(project: Project):
    """Run by hand it would not see the environment's key, and would replace it."""
    project.set(WORK_ITEM_SIGNING_KEY=OLD_KEY)
    result = subprocess.run(  # the hook script alone, without azd's values
        ["sh", "infra/hooks/signing-key.sh"],
        cwd=project.root,
        env=project.process_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "run it through azd" in result.stderr
    assert project.values()["WORK_ITEM_SIGNING_KEY"] == OLD_KEY
