"""Who may call: the app roles a verified caller brings (token checks: test_caller_tokens)."""

from __future__ import annotations

import pytest

from shared.guards import FUNCTION_KEY_CALLER, Caller, CallerRejectedError, authorize_caller
from shared.guards.callers import TOKEN_CALLER
from shared.settings import Settings

SERVICENOW = "8a1f5c1e-3b7d-4c55-9a9e-2f6d1c0b7e41"


def caller_with(*roles: str) -> Caller:
    return Caller(TOKEN_CALLER, app_id=SERVICENOW, roles=frozenset(roles))


@pytest.mark.parametrize(
    ("roles", "dry_run", "allowed"),
    [
        (("MfaReset.Execute",), False, True),
        (("MfaReset.Execute",), True, True),
        (("MfaReset.Preview",), True, True),
        (("MfaReset.Preview",), False, False),
        ((), True, False),
        (("mfareset.execute",), False, False),  # role values are case-sensitive in tokens
        (("User.Read",), False, False),
    ],
)
def test_execute_needs_the_execute_role_and_preview_allows_dry_runs_only(
    roles: tuple[str, ...], dry_run: bool, allowed: bool
):
    settings = Settings()
    if allowed:
        authorize_caller(caller_with(*roles), settings, dry_run=dry_run)
    else:
        with pytest.raises(CallerRejectedError) as rejected:
            authorize_caller(caller_with(*roles), settings, dry_run=dry_run)
        assert rejected.value.status == 403
        assert "MfaReset.Execute" in rejected.value.detail


def test_role_names_come_from_settings():
    settings = Settings(caller_execute_role="Helpdesk.Reset", caller_preview_role="Helpdesk.Look")
    authorize_caller(caller_with("Helpdesk.Reset"), settings, dry_run=False)
    authorize_caller(caller_with("Helpdesk.Look"), settings, dry_run=True)
    with pytest.raises(CallerRejectedError):
        authorize_caller(caller_with("MfaReset.Execute"), settings, dry_run=False)


def test_function_key_callers_pass_the_role_check():
    authorize_caller(FUNCTION_KEY_CALLER, Settings(), dry_run=False)


@pytest.mark.parametrize(
    ("environ", "required"),
    [
        ({"WEBSITE_AUTH_ENABLED": "True"}, True),  # what App Service injects
        ({"WEBSITE_AUTH_ENABLED": "false"}, False),
        ({}, False),
        ({"REQUIRE_CALLER_ROLES": "true"}, True),  # set by the templates with authentication
        ({"REQUIRE_CALLER_ROLES": "true", "WEBSITE_AUTH_ENABLED": "false"}, True),
        ({"REQUIRE_CALLER_ROLES": "false", "WEBSITE_AUTH_ENABLED": "True"}, True),
    ],
)
def test_either_setting_requires_caller_roles_and_neither_lifts_the_other(
    environ: dict[str, str], required: bool
):
    assert Settings.from_environ(environ).caller_roles_required is required
