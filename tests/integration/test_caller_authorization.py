"""Caller authorization with App Service Authentication on, through the HTTP functions.

The principal headers are crafted the way the platform writes them; with the setting
WEBSITE_AUTH_ENABLED (which App Service sets) or REQUIRE_CALLER_ROLES (which the templates set)
the app trusts them and checks app roles.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from emulator import GraphEmulator
from emulator.azurite import Azurite
from shared.settings import get_settings
from tests.support.audit import audit_events
from tests.support.fixtures import StorageNames
from tests.support.http import body_of, problem, status, submit
from tests.unit.test_callers import principal

ALEX = "alex.wilber@contoso.example"
BODY = {"user": ALEX, "ticket_id": "CHG0001", "requested_by": "desk@contoso.example"}
SERVICENOW = "8a1f5c1e-3b7d-4c55-9a9e-2f6d1c0b7e41"


def signed_in(*roles: str) -> dict[str, str]:
    return {
        "X-MS-CLIENT-PRINCIPAL": principal(*roles, appid=SERVICENOW),
        "X-MS-CLIENT-PRINCIPAL-NAME": "ServiceNow production",
    }


@pytest.fixture(params=["WEBSITE_AUTH_ENABLED", "REQUIRE_CALLER_ROLES"])
def easy_auth(
    app_env: StorageNames,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> StorageNames:
    """Authentication on, as the platform announces it or as the templates require it."""
    caplog.set_level("INFO", logger="mfa_reset.audit")
    monkeypatch.setenv(request.param, "true")
    get_settings.cache_clear()
    return app_env


async def ledger_rows(azurite: Azurite, names: StorageNames) -> list[dict[str, object]]:
    """The reset rows; none when the ledger table was never even created."""
    async with TableClient.from_connection_string(
        azurite.connection_string, table_name=names.table
    ) as client:
        try:
            return [dict(e) async for e in client.query_entities("Kind eq 'reset'")]
        except ResourceNotFoundError:
            return []


async def test_no_signed_in_caller_is_a_401_before_anything_happens(
    easy_auth: StorageNames,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    response, queue = await submit(BODY)

    assert response.status_code == 401
    assert problem(response)["type"] == "urn:mfa-reset:problem:caller-unauthenticated"
    assert not queue.is_set
    assert graph_emulator.requests == []
    assert await ledger_rows(azurite, easy_auth) == []
    (event,) = audit_events(caplog)
    assert (event["event"], event["status"], event["caller"]) == ("refused", "refused", None)


async def test_a_caller_without_a_role_is_a_403_and_audited(
    easy_auth: StorageNames,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    response, queue = await submit({**BODY, "mode": "sync"}, signed_in("Some.Other.Role"))

    assert response.status_code == 403
    body = problem(response)
    assert body["type"] == "urn:mfa-reset:problem:caller-forbidden"
    assert "MfaReset.Execute" in body["detail"]
    assert not queue.is_set
    assert graph_emulator.requests == []
    assert await ledger_rows(azurite, easy_auth) == []
    (event,) = audit_events(caplog)
    assert event["event"] == "refused"
    assert event["detail"].startswith("caller-forbidden: ")  # what docs/security.md alerts on
    assert event["ticket_id"] == "CHG0001"
    assert event["target"] == ALEX
    assert event["caller"]["app_id"] == SERVICENOW


async def test_the_preview_role_allows_dry_runs_only(
    easy_auth: StorageNames, graph_emulator: GraphEmulator
):
    preview = signed_in("MfaReset.Preview")

    dry, _ = await submit({**BODY, "dry_run": True}, preview)
    assert dry.status_code == 200
    assert body_of(dry)["status"] == "planned"

    for mode in ("sync", "async"):
        refused, _ = await submit({**BODY, "mode": mode, "ticket_id": f"CHG-{mode}"}, preview)
        assert refused.status_code == 403, mode
    assert graph_emulator.writes() == []


async def test_the_execute_role_runs_and_the_caller_is_recorded(
    easy_auth: StorageNames,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    response, _ = await submit(BODY, signed_in("MfaReset.Execute"))

    assert response.status_code == 202
    (row,) = await ledger_rows(azurite, easy_auth)
    assert row["CallerAuth"] == "app-service-authentication"
    assert row["CallerAppId"] == SERVICENOW
    assert row["CallerName"] == "ServiceNow production"
    (event,) = audit_events(caplog)
    assert event["event"] == "accepted"
    assert event["caller"] == {
        "authenticated_by": "app-service-authentication",
        "app_id": SERVICENOW,
        "name": "ServiceNow production",
    }


async def test_status_reads_need_one_of_the_roles(
    easy_auth: StorageNames, graph_emulator: GraphEmulator
):
    response, _ = await submit(BODY, signed_in("MfaReset.Execute"))
    reset_id = body_of(response)["id"]

    assert (await status(reset_id)).status_code == 401
    assert (await status(reset_id, signed_in("User.Read"))).status_code == 403
    assert (await status(reset_id, signed_in("MfaReset.Preview"))).status_code == 202
    assert (await status(reset_id, signed_in("MfaReset.Execute"))).status_code == 202


async def test_with_function_keys_only_a_principal_header_grants_nothing_and_is_not_recorded(
    app_env: StorageNames, graph_emulator: GraphEmulator, azurite: Azurite
):
    # Without App Service Authentication in front, the header is whatever the client sent.
    response, _ = await submit(BODY, signed_in("MfaReset.Execute"))

    assert response.status_code == 202
    (row,) = await ledger_rows(azurite, app_env)
    assert row["CallerAuth"] == "function-key"
    assert row.get("CallerAppId") is None
