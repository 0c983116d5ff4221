"""Who may call: App Service Authentication principals and their app roles."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.guards import (
    FUNCTION_KEY_CALLER,
    CallerRejectedError,
    authorize_caller,
    identify_caller,
)
from shared.settings import Settings

ROLE_URI = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
SERVICENOW = "8a1f5c1e-3b7d-4c55-9a9e-2f6d1c0b7e41"


def principal(*roles: str, role_typ: str = "roles", **claims: str) -> str:
    """The X-MS-CLIENT-PRINCIPAL header App Service Authentication sets for an app token."""
    document: dict[str, Any] = {
        "auth_typ": "aad",
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "role_typ": role_typ,
        "claims": [{"typ": k, "val": v} for k, v in claims.items()]
        + [{"typ": role_typ, "val": r} for r in roles],
    }
    return base64.b64encode(json.dumps(document).encode()).decode()


def test_without_app_service_authentication_a_principal_header_is_ignored():
    # Without the platform in front, anyone could send the header: it must not count.
    headers = {"x-ms-client-principal": principal("MfaReset.Execute", appid=SERVICENOW)}
    assert identify_caller(headers, roles_required=False) is FUNCTION_KEY_CALLER


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "no signed-in caller"),
        ({"x-ms-client-principal": "not base64!"}, "unreadable"),
        ({"x-ms-client-principal": base64.b64encode(b"not json").decode()}, "unreadable"),
        ({"x-ms-client-principal": base64.b64encode(b'{"claims": [1]}').decode()}, "unreadable"),
        ({"x-ms-client-principal": base64.b64encode(b"[]").decode()}, "unreadable"),
    ],
)
def test_a_missing_or_unreadable_principal_is_a_401(headers: dict[str, str], detail: str):
    with pytest.raises(CallerRejectedError, match=detail) as rejected:
        identify_caller(headers, roles_required=True)
    assert rejected.value.status == 401


@pytest.mark.parametrize(
    ("claims", "role_typ", "app_id"),
    [
        ({"appid": SERVICENOW}, "roles", SERVICENOW),  # v1.0 access token
        ({"azp": SERVICENOW}, ROLE_URI, SERVICENOW),  # v2.0 access token, long role claim
        ({}, "roles", None),
    ],
)
def test_roles_and_application_id_come_from_the_claims(
    claims: dict[str, str], role_typ: str, app_id: str | None
):
    header = principal("MfaReset.Execute", "Other.Role", role_typ=role_typ, **claims)
    caller = identify_caller(
        {"x-ms-client-principal": header, "x-ms-client-principal-name": "ServiceNow prod"},
        roles_required=True,
    )
    assert caller.roles == {"MfaReset.Execute", "Other.Role"}
    assert caller.app_id == app_id
    assert caller.name == "ServiceNow prod"
    assert caller.to_audit() == {
        "authenticated_by": "app-service-authentication",
        "app_id": app_id,
        "name": "ServiceNow prod",
    }


def caller_with(*roles: str) -> Any:
    return identify_caller(
        {"x-ms-client-principal": principal(*roles, appid=SERVICENOW)}, roles_required=True
    )


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
